// Command layoutapp links database/sql's transactions so that DWARF
// describes driverConn, Tx, Stmt and DB (TestStdlibLayoutRule).
package main

import (
	"context"
	"database/sql"
	"fmt"
)

func main() {
	db, err := sql.Open("none", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	tx, err := db.BeginTx(context.Background(), nil)
	if err == nil {
		_, _ = tx.Exec("SELECT 1")
		_ = tx.Commit()
	}
	if st, err := db.Prepare("SELECT 1"); err == nil {
		_, _ = st.ExecContext(context.Background())
		if rows, err := st.QueryContext(context.Background()); err == nil {
			_ = rows.Close()
		}
	}
}
