package setupapi_test

import (
	"testing"

	"scimdesk/db"
	"scimdesk/setupapi"
)

// TestWireMatchesDB keeps the values setupapi puts on the wire equal to the ones db stores
// and checks: the client does not import db, so nothing else ties them together.
func TestWireMatchesDB(t *testing.T) {
	for _, c := range []struct{ name, wire, stored string }{
		{"PurposeSetup", setupapi.PurposeSetup, db.PurposeSetup},
		{"PurposeRecover", setupapi.PurposeRecover, db.PurposeRecover},
		{"CodeExample", setupapi.CodeExample, db.SetupCodeExample},
	} {
		if c.wire != c.stored {
			t.Errorf("setupapi.%s = %q, db has %q", c.name, c.wire, c.stored)
		}
	}
}
