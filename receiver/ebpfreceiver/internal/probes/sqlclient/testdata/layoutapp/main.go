// Command layoutapp links database/sql's transactions so that DWARF
// describes driverConn and Tx (TestStdlibLayoutRule).
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
}
