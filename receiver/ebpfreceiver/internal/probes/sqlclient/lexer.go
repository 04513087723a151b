package sqlclient

import "strings"

// A small SQL lexer, enough to find a statement's operation and first
// table and to replace its literals: it never fails, whatever the input
// (statements arrive truncated, and from any dialect).

type tokenKind uint8

const (
	tokWord   tokenKind = iota + 1 // keyword or unquoted identifier
	tokIdent                       // quoted identifier: "x" (not MySQL), `x`, [x]
	tokString                      // string literal, dollar-quoted string, MySQL "x"
	tokNumber                      // numeric literal
	tokParam                       // placeholder: ?, $1, :name, @p1
	tokPunct                       // any other character
)

type token struct {
	kind tokenKind
	text string
	// spaceBefore: whitespace or a comment separates it from the previous
	// token.
	spaceBefore bool
}

// dialect is what lexing depends on: how backslashes and double quotes
// are read.
type dialect struct {
	// backslashEscapes: a backslash escapes the next character in every
	// string literal (MySQL, MariaDB). Otherwise only in E'...' strings
	// (PostgreSQL) and nowhere else (standard SQL).
	backslashEscapes bool
	// doubleQuotedStrings: "..." is a string literal (MySQL without
	// ANSI_QUOTES), not an identifier.
	doubleQuotedStrings bool
	// dollarQuotes: $tag$...$tag$ strings (PostgreSQL).
	dollarQuotes bool
	// bracketIdents: [x] is an identifier (SQLite, SQL Server).
	bracketIdents bool
	// unsure: the dialect is not known, so whether a backslash escapes is
	// not either: a string literal holding one runs to the end of the text
	// (nothing after it is kept by Sanitize rather than maybe a literal).
	// "..." is then read as a string too, and $$...$$ as well.
	unsure bool
}

func dialectOf(system string) dialect {
	switch system {
	case SystemMySQL, SystemMariaDB:
		return dialect{backslashEscapes: true, doubleQuotedStrings: true}
	case SystemPostgreSQL:
		return dialect{dollarQuotes: true}
	case SystemSQLite, SystemSQLServer:
		return dialect{bracketIdents: true}
	}
	return dialect{dollarQuotes: true, doubleQuotedStrings: true, unsure: true}
}

// maxTokens bounds the work per statement (the text is at most
// queryCapacity bytes already; this bounds the token slice).
const maxTokens = 1024

// lex splits s into tokens; comments and whitespace only set spaceBefore.
func lex(s string, d dialect) []token {
	var toks []token
	space := false
	i := 0
	for i < len(s) && len(toks) < maxTokens {
		c := s[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			space = true
			i++
			continue
		case c == '-' && i+1 < len(s) && s[i+1] == '-',
			c == '#' && d.backslashEscapes: // MySQL comment
			for i < len(s) && s[i] != '\n' {
				i++
			}
			space = true
			continue
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := indexFrom(s, i+2, "*/")
			if end < 0 {
				i = len(s)
			} else {
				i = end + 2
			}
			space = true
			continue
		case c == '\'':
			escapes := d.backslashEscapes
			if n := len(toks); n > 0 && !space && (toks[n-1].text == "E" || toks[n-1].text == "e") && toks[n-1].kind == tokWord {
				// PostgreSQL E'...' string: merge the prefix into it.
				space = toks[n-1].spaceBefore
				toks = toks[:n-1]
				start--
				escapes = true
			}
			i = quotedEnd(s, i, '\'', escapes)
			if d.unsure && strings.IndexByte(s[start:i], '\\') >= 0 {
				i = len(s)
			}
			toks = append(toks, token{kind: tokString, text: s[start:i], spaceBefore: space})
		case c == '"':
			kind := tokIdent
			if d.doubleQuotedStrings {
				kind = tokString
			}
			i = quotedEnd(s, i, '"', d.backslashEscapes && d.doubleQuotedStrings)
			toks = append(toks, token{kind: kind, text: s[start:i], spaceBefore: space})
		case c == '`':
			i = quotedEnd(s, i, '`', false)
			toks = append(toks, token{kind: tokIdent, text: s[start:i], spaceBefore: space})
		case c == '[' && d.bracketIdents:
			// SQL Server / SQLite bracketed identifier.
			end := indexFrom(s, i+1, "]")
			if end < 0 {
				i = len(s)
			} else {
				i = end + 1
			}
			toks = append(toks, token{kind: tokIdent, text: s[start:i], spaceBefore: space})
		case c == '$' && i+1 < len(s) && isDigit(s[i+1]):
			i++
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			toks = append(toks, token{kind: tokParam, text: s[start:i], spaceBefore: space})
		case c == '$' && d.dollarQuotes:
			// $tag$ ... $tag$ (tag possibly empty).
			j := i + 1
			for j < len(s) && isWordChar(s[j]) && s[j] != '$' {
				j++
			}
			if j < len(s) && s[j] == '$' {
				tag := s[i : j+1]
				end := indexFrom(s, j+1, tag)
				if end < 0 {
					i = len(s)
				} else {
					i = end + len(tag)
				}
				toks = append(toks, token{kind: tokString, text: s[start:i], spaceBefore: space})
			} else {
				i++
				toks = append(toks, token{kind: tokPunct, text: s[start:i], spaceBefore: space})
			}
		case c == '?':
			i++
			toks = append(toks, token{kind: tokParam, text: "?", spaceBefore: space})
		case (c == ':' || c == '@') && i+1 < len(s) && isWordStart(s[i+1]) && !(c == ':' && i > 0 && s[i-1] == ':'):
			i++
			for i < len(s) && isWordChar(s[i]) {
				i++
			}
			toks = append(toks, token{kind: tokParam, text: s[start:i], spaceBefore: space})
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			i = numberEnd(s, i)
			toks = append(toks, token{kind: tokNumber, text: s[start:i], spaceBefore: space})
		case isWordStart(c):
			for i < len(s) && isWordChar(s[i]) {
				i++
			}
			toks = append(toks, token{kind: tokWord, text: s[start:i], spaceBefore: space})
		default:
			i++
			toks = append(toks, token{kind: tokPunct, text: s[start:i], spaceBefore: space})
		}
		space = false
	}
	return toks
}

// quotedEnd returns the index after the quoted run starting at s[i] == q:
// a doubled quote is part of it, and with escapes a backslash escapes the
// next byte. An unterminated run ends with s (a truncated statement).
func quotedEnd(s string, i int, q byte, escapes bool) int {
	for j := i + 1; j < len(s); j++ {
		switch {
		case escapes && s[j] == '\\':
			j++
		case s[j] == q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

func numberEnd(s string, i int) int {
	if s[i] == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') {
		i += 2
		for i < len(s) && isHex(s[i]) {
			i++
		}
		return i
	}
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			i = j
			for i < len(s) && isDigit(s[i]) {
				i++
			}
		}
	}
	return i
}

func indexFrom(s string, from int, sub string) int {
	for j := from; j+len(sub) <= len(s); j++ {
		if s[j:j+len(sub)] == sub {
			return j
		}
	}
	return -1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
func isWordStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}
func isWordChar(c byte) bool { return isWordStart(c) || isDigit(c) || c == '$' }
