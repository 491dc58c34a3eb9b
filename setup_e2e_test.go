package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"scimdesk/internal/testtool"
	"strings"
	"testing"
	"time"

	"scimdesk/db"
	"scimdesk/keys"
)

// TestSetupEndToEnd drives the real binary: a server over HTTPS with a private CA, a user
// provisioned over SCIM, a setup code from `scimdesk users setup-code`, and `scimdesk setup`
// run without questions, as a script would. Then it proves with package keys that what
// the server stored opens with the passphrase and with the recovery key, and that the
// database holds no unwrapped key material, nor the passphrase, the recovery key or the code.
func TestSetupEndToEnd(t *testing.T) {
	if testing.Short() {
		testtool.SkipUnlessCI(t, "-short: this test builds and runs the binary")
	}
	dir := t.TempDir()
	// The server: HTTPS with a certificate from a private CA, as on another host.
	caFile, certFile, keyFile := makeCA(t, dir)
	e2 := startE2E(t, dir, caFile, "--tls-cert", certFile, "--tls-key", keyFile)
	run, mustRun, scim, store, base, dbPath := e2.run, e2.mustRun, e2.scim, e2.store, e2.base, e2.dbPath
	var err error
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("server URL %q", base)
	}

	// Provision alice over SCIM: she arrives pending.
	alice := scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com",
		"name":{"givenName":"Alice","familyName":"Liddell"},"emails":[{"value":"alice@example.com","type":"work","primary":true}]}`)
	aliceID := alice["id"].(string)
	if o, _ := mustRun("", "users", "list", "--status", "pending"); !strings.Contains(o, "alice@example.com") {
		t.Fatalf("alice is not pending:\n%s", o)
	}

	// The admin issues a code: alone on line 1, then the command to hand over.
	o, e := mustRun("", "users", "setup-code", "alice@example.com")
	lines := strings.Split(strings.TrimRight(o, "\n"), "\n")
	code := lines[0]
	if len(lines) != 2 || len(code) != 23 || code[5] != '-' || code[17] != '-' {
		t.Fatalf("setup-code stdout:\n%s", o)
	}
	if lines[1] != "scimdesk setup --server "+base+" --email alice@example.com" {
		t.Fatalf("hand-over command %q", lines[1])
	}
	if !strings.Contains(e, "valid until") || strings.Contains(e, code) {
		t.Fatalf("setup-code stderr: %s", e)
	}

	passphrase := "copper lantern orbit 47 meadow"
	passFile := filepath.Join(dir, "pass")
	os.WriteFile(passFile, []byte(passphrase+"\n"), 0o600) // the newline an editor adds
	rkFile := filepath.Join(dir, "recovery.txt")

	// Without the CA the certificate is not trusted, and nothing is spent or written.
	_, e, err = run("", "setup", "--server", base, "--email", "alice@example.com", "--code", code,
		"--passphrase-file", passFile, "--recovery-file", rkFile)
	if err == nil || !strings.Contains(e, "not trusted") || !strings.Contains(e, "--ca-file") {
		t.Fatalf("untrusted server: %v\n%s", err, e)
	}
	if _, err := os.Stat(rkFile); err == nil {
		t.Fatal("a recovery file was written for a setup that failed")
	}
	_, e, err = run("", "setup", "--server", "http://127.0.0.1:1", "--email", "alice@example.com", "--code", code,
		"--passphrase-file", passFile, "--recovery-file", rkFile)
	if err == nil || !strings.Contains(e, "cannot reach the server at http://127.0.0.1:1: is scimdesk running?") {
		t.Fatalf("unreachable server: %v\n%s", err, e)
	}

	// The real setup, with the default argon2id cost.
	_, e = mustRun("", "setup", "--server", base, "--ca-file", caFile, "--email", "alice@example.com", "--code", code,
		"--passphrase-file", passFile, "--recovery-file", rkFile)
	if !strings.Contains(e, "alice@example.com is ready") {
		t.Fatalf("setup stderr: %s", e)
	}
	if o, _ := mustRun("", "users", "list", "--status", "ready"); !strings.Contains(o, "alice@example.com") {
		t.Fatalf("alice is not ready:\n%s", o)
	}
	st, err := os.Stat(rkFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("recovery file: %v, %v", st, err)
	}
	rkBytes, _ := os.ReadFile(rkFile)
	rkText, _, _ := strings.Cut(string(rkBytes), "\n")
	rk, err := keys.ParseRecoveryKey(rkText)
	if err != nil {
		t.Fatalf("recovery file line 1 %q: %v", rkText, err)
	}

	// What is stored opens with the passphrase and with the recovery key, to the same key.
	b := storedBundle(t, store, aliceID)
	if b.Passphrase.KDF == nil || *b.Passphrase.KDF != keys.DefaultParams() {
		t.Fatalf("KDF %+v, want the defaults", b.Passphrase.KDF)
	}
	fromPass, err := b.UnlockWithPassphrase(aliceID, []byte(passphrase))
	if err != nil {
		t.Fatalf("passphrase does not open the stored key: %v", err)
	}
	fromRK, err := b.UnlockWithRecoveryKey(aliceID, rk)
	if err != nil {
		t.Fatalf("recovery key does not open the stored key: %v", err)
	}
	if !bytes.Equal(fromPass, fromRK) {
		t.Fatal("the two blobs hold different keys")
	}
	if _, err := b.UnlockWithPassphrase(aliceID, []byte(passphrase+"\n")); err == nil {
		t.Fatal("the trailing newline was kept in the passphrase")
	}
	canonCode, _ := db.NormalizeSetupCode(code)
	secrets := map[string][]byte{
		"private key":              fromPass,
		"private key (hex)":        []byte(hex.EncodeToString(fromPass)),
		"private key (base64)":     []byte(base64.StdEncoding.EncodeToString(fromPass)),
		"private key (raw base64)": []byte(base64.RawStdEncoding.EncodeToString(fromPass)),
		"private key (url base64)": []byte(base64.RawURLEncoding.EncodeToString(fromPass)),
		"passphrase":               []byte(passphrase),
		"recovery key":             []byte(rkText),
		"recovery key (bare)":      []byte(strings.ReplaceAll(rkText, "-", "")),
		"setup code":               []byte(code),
		"setup code (bare)":        []byte(canonCode),
	}
	assertNotStored(t, dbPath, secrets)
	assertEvent(t, store, "user.key_setup", "alice@example.com", db.OutcomeOK)
	assertEvent(t, store, "user.setup_code", "alice@example.com", db.OutcomeOK)

	// The code is single use.
	_, e, err = run("", "setup", "--server", base, "--ca-file", caFile, "--email", "alice@example.com", "--code", code,
		"--passphrase-file", passFile, "--recovery-file", filepath.Join(dir, "again.txt"))
	if err == nil || !strings.Contains(e, "code already used: ask your admin for a new one") {
		t.Fatalf("second use: %v\n%s", err, e)
	}
	if _, _, err := run("", "users", "setup-code", "alice@example.com"); err == nil {
		t.Fatal("a setup code was issued for a ready user")
	}

	// Recovery: a recovery code, the saved recovery key, a new passphrase from stdin.
	o, _ = mustRun("", "users", "recovery-code", "alice@example.com")
	rcode := strings.SplitN(o, "\n", 2)[0]
	newPass := "velvet cobra harbor 93 tulip"
	_, e = mustRun(newPass+"\n", "recover", "--server", base, "--ca-file", caFile, "--email", "alice@example.com",
		"--code", rcode, "--recovery-key-file", rkFile, "--passphrase-file", "-")
	if !strings.Contains(e, "ready again") {
		t.Fatalf("recover stderr: %s", e)
	}
	b2 := storedBundle(t, store, aliceID)
	if !bytes.Equal(b2.PublicKey, b.PublicKey) {
		t.Fatal("recovery changed the public key")
	}
	if err := keys.VerifyBundle(b2, aliceID, []byte(newPass), rk); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if _, err := b2.UnlockWithPassphrase(aliceID, []byte(passphrase)); err == nil {
		t.Fatal("the old passphrase still opens the key")
	}
	secrets["new passphrase"] = []byte(newPass)
	assertNotStored(t, dbPath, secrets)
	assertEvent(t, store, "user.key_recover", "alice@example.com", db.OutcomeOK)

	// A user deactivated by the identity provider cannot use a code they were given.
	bob := scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob@example.com"}`)
	o, _ = mustRun("", "users", "setup-code", "bob@example.com")
	bobCode := strings.SplitN(o, "\n", 2)[0]
	scim("PATCH", "/Users/"+bob["id"].(string), `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
	_, e, err = run("", "setup", "--server", base, "--ca-file", caFile, "--email", "bob@example.com", "--code", bobCode,
		"--passphrase-file", passFile, "--recovery-file", filepath.Join(dir, "bob.txt"))
	if err == nil || !strings.Contains(e, "your account is deactivated") {
		t.Fatalf("deactivated: %v\n%s", err, e)
	}
	assertEvent(t, store, "user.key_setup", "bob@example.com", db.OutcomeFail)
}

// TestSetupInteractiveTmux runs the hand-over command as a user would, in a real terminal
// (tmux, 80x24): the full-screen flow, the recovery key saved to a file, the confirmation,
// and the sentence left on the screen afterwards, which must not hold the recovery key.
func TestSetupInteractiveTmux(t *testing.T) {
	if testing.Short() {
		testtool.SkipUnlessCI(t, "-short: this test builds and runs the binary")
	}
	tmux := testtool.NeedTmux(t)
	dir := t.TempDir()
	e := startE2E(t, dir, "")
	dora := e.scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dora@example.com"}`)
	doraID := dora["id"].(string)
	o, _ := e.mustRun("", "users", "setup-code", "dora@example.com")
	lines := strings.Split(strings.TrimSpace(o), "\n")
	code, handover := lines[0], lines[1]

	session := fmt.Sprintf("scimdesk-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	shell := fmt.Sprintf("cd %s && %s; echo EXIT=$?; sleep 60", dir, strings.Replace(handover, "scimdesk", e.bin, 1))
	if out, err := exec.Command(tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", shell).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(tmux, "kill-session", "-t", session).Run() })
	screen := func() string {
		out, _ := exec.Command(tmux, "capture-pane", "-p", "-t", session).Output()
		return string(out)
	}
	wait := func(texts ...string) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			scr := screen()
			flat := strings.Join(strings.Fields(scr), " ")
			ok := true
			for _, w := range texts {
				ok = ok && strings.Contains(flat, w)
			}
			if ok {
				return scr
			}
			if time.Now().After(deadline) {
				t.Fatalf("the terminal never showed %q; it shows:\n%s", texts, scr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	press := func(k ...string) { exec.Command(tmux, append([]string{"send-keys", "-t", session}, k...)...).Run() }
	text := func(s string) { exec.Command(tmux, "send-keys", "-t", session, "-l", s).Run() }

	wait("Sign in", "Email › dora@example.com")
	text(code)
	press("Enter")
	wait("Choose a passphrase for dora@example.com")
	pass := "quiet harbor lamp 1984 fig"
	text(pass)
	press("Enter")
	text(pass)
	press("Enter")
	scr := wait("Your recovery key — shown only this once")
	rkText := regexp.MustCompile(`[0-9A-Z]{5}(-[0-9A-Z]{5}){6}`).FindString(scr)
	if rkText == "" {
		t.Fatalf("no recovery key on screen:\n%s", scr)
	}
	press("s")
	wait("Save to ›")
	press("Enter")
	wait("Saved to")
	press("Enter")
	scr = wait("To be sure you have it")
	m := regexp.MustCompile(`type groups (\d) and (\d)`).FindStringSubmatch(strings.Join(strings.Fields(scr), " "))
	if m == nil {
		t.Fatalf("no groups asked:\n%s", scr)
	}
	g := strings.Split(rkText, "-")
	text(g[m[1][0]-'1'] + " " + g[m[2][0]-'1'])
	press("Enter")
	wait("Done: dora@example.com is ready")
	press("Enter")
	scr = wait("EXIT=0", "dora@example.com is ready: your master key is stored on "+e.base)
	if strings.Contains(scr, rkText) {
		t.Fatalf("the recovery key stayed on the terminal after the flow:\n%s", scr)
	}

	saved := filepath.Join(dir, "scimdesk-recovery-dora@example.com.txt")
	if st, err := os.Stat(saved); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved recovery key: %v %v", st, err)
	}
	rk, err := keys.ParseRecoveryKey(rkText)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.VerifyBundle(storedBundle(t, e.store, doraID), doraID, []byte(pass), rk); err != nil {
		t.Fatalf("stored bundle: %v", err)
	}
	assertEvent(t, e.store, "user.key_setup", "dora@example.com", db.OutcomeOK)
}

// e2e is the real binary serving a database in a temporary directory.
type e2e struct {
	t      *testing.T
	bin    string
	dbPath string
	base   string // the server's URL, from its heartbeat
	token  string
	store  *db.DB
	client *http.Client
}

// startE2E switches SCIM on, makes a token and starts `scimdesk serve` (the binary built
// for the run) on a free port with the extra flags; caFile, if set, is trusted by the SCIM
// client.
func startE2E(t *testing.T, dir, caFile string, serveFlags ...string) *e2e {
	t.Helper()
	e := &e2e{t: t, bin: builtBinary(t), dbPath: filepath.Join(dir, "scim.db")}
	createDB(t, e.dbPath) // as serve or the console would on first run
	e.mustRun("", "scim", "enable")
	tokOut, _ := e.mustRun("", "token", "create", "--description", "e2e")
	e.token = strings.TrimSpace(strings.SplitN(tokOut, "\n", 2)[0])
	srv := exec.Command(e.bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", e.dbPath}, serveFlags...)...)
	var srvLog bytes.Buffer
	srv.Stderr = &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := db.Open(ctx, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
		store.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", srvLog.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		beats, err := store.ReadHeartbeats(ctx)
		if h, ok := db.Serving(beats, time.Now()); err == nil && ok && h.PID == srv.Process.Pid {
			e.base = h.PublicURL
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server wrote no heartbeat; log:\n%s", srvLog.String())
		}
	}
	tr := &http.Transport{}
	if caFile != "" {
		pool := x509.NewCertPool()
		caPEM, _ := os.ReadFile(caFile)
		pool.AppendCertsFromPEM(caPEM)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	e.client = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	return e
}

// run runs the binary on the database, as the admin e2e-admin.
func (e *e2e) run(stdin string, args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), "SCIMDESK_DB="+e.dbPath, "USER=e2e-admin")
	cmd.Stdin = strings.NewReader(stdin)
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err = cmd.Run()
	return o.String(), er.String(), err
}

func (e *e2e) mustRun(stdin string, args ...string) (string, string) {
	e.t.Helper()
	o, er, err := e.run(stdin, args...)
	if err != nil {
		e.t.Fatalf("scimdesk %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, o, er)
	}
	return o, er
}

// scim sends one SCIM request with the token and returns the decoded body.
func (e *e2e) scim(method, path, body string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+"/scim/v2"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode >= 300 {
		e.t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, out)
	}
	return out
}

func storedBundle(t *testing.T, store *db.DB, userID string) keys.Bundle {
	t.Helper()
	k, err := store.UserKey(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	b := keys.Bundle{KeyAlg: k.Alg, PublicKey: k.PublicKey}
	if err := json.Unmarshal([]byte(k.Passphrase), &b.Passphrase); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(k.Recovery), &b.Recovery); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNotStored reads the database's files byte by byte (the main file, the WAL and its
// index, live pages and free ones alike) and fails if any secret appears.
func assertNotStored(t *testing.T, dbPath string, secrets map[string][]byte) {
	t.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(dbPath + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(all) == 0 {
		t.Fatal("read no database bytes")
	}
	for name, s := range secrets {
		if bytes.Contains(all, s) {
			t.Errorf("the database files contain the %s", name)
		}
	}
}

func assertEvent(t *testing.T, store *db.DB, kind, subject, outcome string) {
	t.Helper()
	evs, err := store.EventsBefore(context.Background(), 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == kind && e.Subject == subject && e.Outcome == outcome {
			return
		}
	}
	t.Errorf("no %s event for %s with outcome %s", kind, subject, outcome)
}

// makeCA writes a private CA and a server certificate it signed, for 127.0.0.1 and
// localhost.
func makeCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scimdesk e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "scim.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}
