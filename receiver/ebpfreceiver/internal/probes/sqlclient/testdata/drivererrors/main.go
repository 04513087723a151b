// Command drivererrors links lib/pq's and go-sql-driver/mysql's error
// types, so that DWARF describes them (TestDriverErrorRule builds it
// against releases of both drivers; it is never run).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/go-sql-driver/mysql"
	"github.com/lib/pq"
)

func main() {
	var pe *pq.Error
	var me *mysql.MySQLError
	var err error = &pq.Error{Code: "42P01"}
	if len(os.Args) > 1 {
		err = &mysql.MySQLError{Number: 1146}
	}
	fmt.Println(errors.As(err, &pe), errors.As(err, &me), pe, me)
}
