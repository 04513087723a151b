package sqlclient

import "strings"

// Statement is what a span says about a statement's text.
type Statement struct {
	// Operation is the statement's keyword in upper case ("SELECT"; for a
	// WITH query, the main statement's); "" when not found.
	Operation string
	// Collection is the first table the statement names as written,
	// schema prefix and quotes included ("users", "public.orders",
	// "`Order`"); "" when there is none or it is not found.
	Collection string
}

// ParseStatement finds the operation and the first table of a statement
// written in the dialect of system (a db.system.name value). Text holding
// more than one statement gives neither: which one would the span be named
// after?
func ParseStatement(text, system string) Statement {
	toks := lex(text, dialectOf(system))
	i := 0
	for i < len(toks) && toks[i].kind == tokPunct && (toks[i].text == "(" || toks[i].text == ";") {
		i++
	}
	if severalStatements(toks[i:]) {
		return Statement{}
	}
	if i >= len(toks) || toks[i].kind != tokWord {
		return Statement{}
	}
	op := strings.ToUpper(toks[i].text)
	i++
	if op == "WITH" {
		var ok bool
		if i, ok = skipCTEs(toks, i); !ok || i >= len(toks) || toks[i].kind != tokWord {
			return Statement{}
		}
		op = strings.ToUpper(toks[i].text)
		i++
	}
	st := Statement{Operation: op}
	switch op {
	case "SELECT":
		st.Collection = selectTable(toks, i)
	case "INSERT", "REPLACE":
		i = skipWords(toks, i, "INTO", "IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "OR", "REPLACE", "ABORT", "FAIL", "ROLLBACK")
		st.Collection, _ = tableName(toks, i)
	case "UPDATE":
		i = skipWords(toks, i, "LOW_PRIORITY", "IGNORE", "ONLY", "OR", "REPLACE", "ABORT", "FAIL", "ROLLBACK")
		st.Collection, _ = tableName(toks, i)
	case "DELETE":
		i = skipWords(toks, i, "LOW_PRIORITY", "QUICK", "IGNORE", "FROM", "ONLY")
		st.Collection, _ = tableName(toks, i)
	case "MERGE":
		i = skipWords(toks, i, "INTO")
		st.Collection, _ = tableName(toks, i)
	case "TRUNCATE":
		i = skipWords(toks, i, "TABLE", "ONLY")
		st.Collection, _ = tableName(toks, i)
	case "CREATE", "DROP", "ALTER":
		i = skipWords(toks, i, "TEMPORARY", "TEMP", "UNLOGGED", "GLOBAL", "LOCAL")
		if i < len(toks) && strings.EqualFold(toks[i].text, "TABLE") {
			i = skipWords(toks, i+1, "IF", "NOT", "EXISTS", "ONLY")
			st.Collection, _ = tableName(toks, i)
		}
	}
	return st
}

// severalStatements: a ';' is followed by another statement.
func severalStatements(toks []token) bool {
	for i, t := range toks {
		if t.kind == tokPunct && t.text == ";" {
			for _, u := range toks[i+1:] {
				if u.kind != tokPunct || u.text != ";" {
					return true
				}
			}
			return false
		}
	}
	return false
}

// skipCTEs skips "[RECURSIVE] name [(cols)] AS [[NOT] MATERIALIZED] (...)
// [, ...]" after WITH; it returns the index of the main statement.
func skipCTEs(toks []token, i int) (int, bool) {
	i = skipWords(toks, i, "RECURSIVE")
	for {
		if i >= len(toks) || (toks[i].kind != tokWord && toks[i].kind != tokIdent) {
			return i, false
		}
		i++
		if i < len(toks) && toks[i].text == "(" {
			i = skipParens(toks, i)
		}
		if i >= len(toks) || !strings.EqualFold(toks[i].text, "AS") {
			return i, false
		}
		i = skipWords(toks, i+1, "NOT", "MATERIALIZED")
		if i >= len(toks) || toks[i].text != "(" {
			return i, false
		}
		i = skipParens(toks, i)
		if i < len(toks) && toks[i].text == "," {
			i++
			continue
		}
		return i, true
	}
}

// skipParens returns the index after the parenthesis opened at toks[i].
func skipParens(toks []token, i int) int {
	depth := 0
	for ; i < len(toks); i++ {
		if toks[i].kind != tokPunct {
			continue
		}
		switch toks[i].text {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return i
}

func skipWords(toks []token, i int, words ...string) int {
	for i < len(toks) && toks[i].kind == tokWord {
		found := false
		for _, w := range words {
			if strings.EqualFold(toks[i].text, w) {
				found = true
				break
			}
		}
		if !found {
			break
		}
		i++
	}
	return i
}

// selectTable is the first table after the SELECT's own FROM (not one of
// a subquery or of EXTRACT(... FROM ...)): none when it selects from a
// subquery or a function.
func selectTable(toks []token, i int) string {
	depth := 0
	for ; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tokPunct && t.text == "(":
			depth++
		case t.kind == tokPunct && t.text == ")":
			depth--
		case depth == 0 && t.kind == tokWord && strings.EqualFold(t.text, "FROM"):
			j := skipWords(toks, i+1, "ONLY")
			name, next := tableName(toks, j)
			if name == "" || (next < len(toks) && toks[next].text == "(") {
				return ""
			}
			return name
		}
	}
	return ""
}

// sqlKeywords cannot be table names where one is expected.
var sqlKeywords = map[string]bool{
	"SELECT": true, "LATERAL": true, "VALUES": true, "SET": true, "WHERE": true, "DEFAULT": true,
}

// tableName reads a possibly qualified name (schema.table, `db`.`t`) at
// toks[i]; it returns "" when there is none, and the index after it.
func tableName(toks []token, i int) (string, int) {
	var b strings.Builder
	for i < len(toks) {
		t := toks[i]
		if t.kind != tokWord && t.kind != tokIdent {
			break
		}
		if t.kind == tokWord && sqlKeywords[strings.ToUpper(t.text)] {
			break
		}
		b.WriteString(t.text)
		i++
		if i+1 < len(toks) && toks[i].kind == tokPunct && toks[i].text == "." && !toks[i+1].spaceBefore {
			b.WriteByte('.')
			i++
			continue
		}
		break
	}
	return b.String(), i
}

// Sanitize returns the statement with every literal (string, number,
// dollar-quoted string) replaced by '?', comments removed and white space
// collapsed, read in the dialect of system. Placeholders ($1, ?, :name)
// stay. An unterminated literal (a truncated statement) is replaced up to
// the end: nothing of a literal is ever kept.
func Sanitize(text, system string) string {
	toks := lex(text, dialectOf(system))
	var b strings.Builder
	b.Grow(len(text))
	for _, t := range toks {
		if t.spaceBefore && b.Len() > 0 {
			b.WriteByte(' ')
		}
		switch t.kind {
		case tokString, tokNumber:
			b.WriteByte('?')
		default:
			b.WriteString(t.text)
		}
	}
	return b.String()
}
