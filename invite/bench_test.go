package invite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"scimdesk/internal/testsmtp"
)

// BenchmarkDeliver100 sends 100 queued invitations (code issued, message composed, sent
// over STARTTLS on loopback, recorded) per iteration, on one SMTP connection.
func BenchmarkDeliver100(b *testing.B) {
	ctx := context.Background()
	srv := testsmtp.Start(b, testsmtp.Options{})
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		d := openDB(b)
		for j := range 100 {
			u := addPending(b, d, fmt.Sprintf("u%d-%d@example.com", i, j), "")
			if _, err := d.InviteUser(ctx, u.ID, "cli:bench"); err != nil {
				b.Fatal(err)
			}
		}
		m := newMailer(b, d, srv.URL(), srv)
		b.StartTimer()
		if n, err := m.DeliverDue(ctx, time.Now()); n != 100 || err != nil {
			b.Fatalf("sent %d, %v", n, err)
		}
		b.StopTimer()
		for range 100 {
			srv.Next(b, time.Second)
		}
		b.StartTimer()
	}
}
