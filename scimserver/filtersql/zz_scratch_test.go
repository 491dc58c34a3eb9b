package filtersql

import (
	"fmt"
	"testing"
)

func TestZZShow(t *testing.T) {
	for _, f := range []string{
		`emails[type eq "work"].value eq "x"`,
		`not (emails.type ne "work")`,
		`meta.created gt "2024-01-01T00:00:00Z" and hiredAt le "2024-01-01T00:00:00.5+01:00"`,
		`not (name[givenName sw "a"].familyName eq "liddell")`,
		`displayName sw "x" or displayName ew "y"`,
	} {
		w, err := Translate(f, userSchema)
		fmt.Printf("%s\n  %s\n  %#v %v\n", f, w.SQL, w.Args, err)
	}
	for _, c := range errorCases {
		_, err := Translate(c.filter, userSchema)
		if len(c.filter) < 100 {
			fmt.Printf("%-50s %v\n", c.filter, err)
		}
	}
}
