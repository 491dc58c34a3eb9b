package db

import (
	"context"
	"strconv"
)

const settingSCIMEnabled = "scim_enabled"

func getSetting(ctx context.Context, q querier, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	return v, mapErr(err)
}

// SCIMEnabled reports whether the admin has switched SCIM provisioning on. A new database
// starts with it off, so that nothing is provisioned before the admin means it.
func (d *DB) SCIMEnabled(ctx context.Context) (bool, error) {
	v, err := getSetting(ctx, d.ac, settingSCIMEnabled)
	if err == ErrNotFound {
		return false, nil
	}
	return v == "1", err
}

// SetSCIMEnabled switches SCIM provisioning on or off and records the admin action.
func (d *DB) SetSCIMEnabled(ctx context.Context, on bool, actor string) error {
	return d.writeAdmin(ctx, func(tx *Tx) error {
		v, kind, summary := "0", "scim.disable", "SCIM provisioning disabled"
		if on {
			v, kind, summary = "1", "scim.enable", "SCIM provisioning enabled"
		}
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, settingSCIMEnabled, v); err != nil {
			return mapErr(err)
		}
		tx.authChanged = true
		return tx.InsertEvent(ctx, Event{Kind: kind, Agent: actor, Outcome: OutcomeOK, Summary: summary})
	})
}

// settingProbe is the row ProbeWrite rewrites: a health check's proof that a commit
// reaches the disk.
const settingProbe = "health_probe"

// ProbeWrite commits one small change through the writer, as every SCIM write does, so
// that a health check learns whether the database can take writes now: it fails when the
// file system is read-only or full, and waits when the writer is stalled (bound it with
// ctx).
func (d *DB) ProbeWrite(ctx context.Context) error {
	return d.Write(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			settingProbe, strconv.FormatInt(ms(tx.now), 10))
		return mapErr(err)
	})
}
