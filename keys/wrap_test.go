package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPassphraseRoundTrip(t *testing.T) {
	_, priv := mustKeyPair(t)
	w := mustPassphraseBlob(t, priv)
	got, err := UnwrapWithPassphrase(w, testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, priv) {
		t.Fatal("unwrapped key differs")
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}

	// Wrapping twice uses a fresh salt and nonce.
	w2 := mustPassphraseBlob(t, priv)
	if bytes.Equal(w.Salt, w2.Salt) || bytes.Equal(w.Nonce, w2.Nonce) || bytes.Equal(w.Ciphertext, w2.Ciphertext) {
		t.Fatal("two wraps share salt, nonce or ciphertext")
	}
}

func TestPassphraseBlobRecordsParams(t *testing.T) {
	_, priv := mustKeyPair(t)
	p := Params{Time: 2, MemoryKiB: 128, Threads: 2}
	w, err := WrapWithPassphrase(testUser, priv, testPass, p)
	if err != nil {
		t.Fatal(err)
	}
	if w.Version != FormatVersion || w.KeyAlg != AlgX25519 || w.Wrap != WrapPassphrase {
		t.Fatalf("header = %d %q %q", w.Version, w.KeyAlg, w.Wrap)
	}
	if w.KDF == nil || *w.KDF != p {
		t.Fatalf("KDF = %+v, want %+v", w.KDF, p)
	}
	if len(w.Salt) != SaltSize || len(w.Nonce) != NonceSize || len(w.Ciphertext) != CiphertextSize {
		t.Fatalf("lengths salt=%d nonce=%d ct=%d", len(w.Salt), len(w.Nonce), len(w.Ciphertext))
	}

	// The JSON form carries the parameters and survives a round trip.
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"v":1`, `"alg":"x25519"`, `"wrap":"argon2id+xchacha20poly1305"`,
		`"kdf":{"time":2,"memoryKiB":128,"threads":2}`, `"salt":"`, `"nonce":"`, `"ct":"`} {
		if !strings.Contains(string(js), field) {
			t.Errorf("JSON %s lacks %s", js, field)
		}
	}
	var back WrappedKey
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	got, err := UnwrapWithPassphrase(back, testUser, testPass)
	if err != nil || !bytes.Equal(got, priv) {
		t.Fatalf("unwrap after JSON round trip: %v", err)
	}
}

func TestPassphraseWrongSecrets(t *testing.T) {
	_, priv := mustKeyPair(t)
	w := mustPassphraseBlob(t, priv)
	for name, c := range map[string]struct {
		user string
		pass []byte
	}{
		"wrong passphrase":    {testUser, otherPass},
		"passphrase prefix":   {testUser, testPass[:len(testPass)-1]},
		"trailing newline":    {testUser, append(append([]byte(nil), testPass...), '\n')},
		"empty passphrase":    {testUser, nil},
		"wrong user":          {otherUser, testPass},
		"user id case":        {strings.ToUpper(testUser), testPass},
		"wrong user and pass": {otherUser, otherPass},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := UnwrapWithPassphrase(w, c.user, c.pass)
			wantErr(t, err, ErrWrongKey)
			if got != nil {
				t.Fatal("returned key material on failure")
			}
		})
	}
	_, err := UnwrapWithPassphrase(w, "", testPass)
	wantErr(t, err, ErrEmptyUserID)
}

func TestWrapWithPassphraseRejects(t *testing.T) {
	_, priv := mustKeyPair(t)
	_, err := WrapWithPassphrase("", priv, testPass, cheapParams)
	wantErr(t, err, ErrEmptyUserID)
	_, err = WrapWithPassphrase(testUser, priv, nil, cheapParams)
	wantErr(t, err, ErrEmptyPassphrase)
	_, err = WrapWithPassphrase(testUser, priv, testPass, Params{})
	wantErr(t, err, ErrInvalidParams)
	if _, err = WrapWithPassphrase(testUser, priv[:31], testPass, cheapParams); err == nil {
		t.Fatal("accepted a 31-byte private key")
	}
}

// TestPassphraseTamperEveryBit flips every bit of salt, nonce and ciphertext
// in turn; each must fail with ErrWrongKey, never succeed or panic.
func TestPassphraseTamperEveryBit(t *testing.T) {
	_, priv := mustKeyPair(t)
	w := mustPassphraseBlob(t, priv)
	fields := map[string]func(*WrappedKey) []byte{
		"salt":  func(w *WrappedKey) []byte { return w.Salt },
		"nonce": func(w *WrappedKey) []byte { return w.Nonce },
		"ct":    func(w *WrappedKey) []byte { return w.Ciphertext },
	}
	for name, field := range fields {
		for i := range field(&w) {
			for bit := range 8 {
				c := clone(w)
				field(&c)[i] ^= 1 << bit
				if _, err := UnwrapWithPassphrase(c, testUser, testPass); !errors.Is(err, ErrWrongKey) {
					t.Fatalf("%s byte %d bit %d flipped: error = %v, want ErrWrongKey", name, i, bit, err)
				}
			}
		}
	}
}

func TestRecoveryTamperEveryBit(t *testing.T) {
	_, priv := mustKeyPair(t)
	rk := mustRecoveryKey(t)
	w := mustRecoveryBlob(t, priv, rk)
	for _, field := range []func(*WrappedKey) []byte{
		func(w *WrappedKey) []byte { return w.Nonce },
		func(w *WrappedKey) []byte { return w.Ciphertext },
	} {
		for i := range field(&w) {
			for bit := range 8 {
				c := clone(w)
				field(&c)[i] ^= 1 << bit
				_, err := UnwrapWithRecoveryKey(c, testUser, rk)
				wantErr(t, err, ErrWrongKey)
			}
		}
	}
}

// TestPassphraseTamperParams changes each KDF parameter and header field.
// A change that stays within the limits must fail authentication; one that
// leaves them must be refused as malformed before any derivation.
func TestPassphraseTamperParams(t *testing.T) {
	_, priv := mustKeyPair(t)
	p := Params{Time: 2, MemoryKiB: 128, Threads: 2}
	w, err := WrapWithPassphrase(testUser, priv, testPass, p)
	if err != nil {
		t.Fatal(err)
	}
	authFail := map[string]func(*WrappedKey){
		"time+1":       func(w *WrappedKey) { w.KDF.Time++ },
		"time-1":       func(w *WrappedKey) { w.KDF.Time-- },
		"memory+1":     func(w *WrappedKey) { w.KDF.MemoryKiB++ },
		"memory-1":     func(w *WrappedKey) { w.KDF.MemoryKiB-- },
		"memory*2":     func(w *WrappedKey) { w.KDF.MemoryKiB *= 2 },
		"threads+1":    func(w *WrappedKey) { w.KDF.Threads++ },
		"threads-1":    func(w *WrappedKey) { w.KDF.Threads-- },
		"longer salt":  func(w *WrappedKey) { w.Salt = append(w.Salt, 0) },
		"shorter salt": func(w *WrappedKey) { w.Salt = append(w.Salt, 1, 2, 3)[3:] },
	}
	for name, mutate := range authFail {
		t.Run(name, func(t *testing.T) {
			c := clone(w)
			mutate(&c)
			_, err := UnwrapWithPassphrase(c, testUser, testPass)
			wantErr(t, err, ErrWrongKey)
		})
	}
	malformed := map[string]func(*WrappedKey){
		"time 0":        func(w *WrappedKey) { w.KDF.Time = 0 },
		"threads 0":     func(w *WrappedKey) { w.KDF.Threads = 0 },
		"memory 0":      func(w *WrappedKey) { w.KDF.MemoryKiB = 0 },
		"version 2":     func(w *WrappedKey) { w.Version = 2 },
		"version 0":     func(w *WrappedKey) { w.Version = 0 },
		"alg":           func(w *WrappedKey) { w.KeyAlg = "x448" },
		"wrap":          func(w *WrappedKey) { w.Wrap = "argon2i+xchacha20poly1305" },
		"kdf removed":   func(w *WrappedKey) { w.KDF = nil },
		"salt 15 bytes": func(w *WrappedKey) { w.Salt = w.Salt[:15] },
		"nonce 23":      func(w *WrappedKey) { w.Nonce = w.Nonce[:23] },
		"ct 47":         func(w *WrappedKey) { w.Ciphertext = w.Ciphertext[:47] },
	}
	for name, mutate := range malformed {
		t.Run(name, func(t *testing.T) {
			c := clone(w)
			mutate(&c)
			_, err := UnwrapWithPassphrase(c, testUser, testPass)
			wantErr(t, err, ErrInvalidBlob)
		})
	}
}

// TestUnwrapRefusesAbsurdParams feeds hostile parameters through JSON, as a
// server could, and checks they are refused quickly with a clear message
// instead of allocating gigabytes.
func TestUnwrapRefusesAbsurdParams(t *testing.T) {
	_, priv := mustKeyPair(t)
	w := mustPassphraseBlob(t, priv)
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kdf, mention string }{
		{`{"time":1,"memoryKiB":4194304,"threads":1}`, "memory 4194304 KiB exceeds"},
		{`{"time":1,"memoryKiB":1048577,"threads":1}`, "memory 1048577 KiB exceeds"},
		{`{"time":21,"memoryKiB":64,"threads":1}`, "time 21"},
		{`{"time":4294967295,"memoryKiB":64,"threads":1}`, "time 4294967295"},
		{`{"time":1,"memoryKiB":64,"threads":0}`, "threads 0"},
		{`{"time":1,"memoryKiB":1024,"threads":65}`, "threads 65"},
		{`{"time":1,"memoryKiB":64,"threads":9}`, "below the minimum of 72 KiB for 9 threads"},
		{`{"time":0,"memoryKiB":0,"threads":0}`, "time 0"},
	} {
		hostile := strings.Replace(string(js), `{"time":1,"memoryKiB":64,"threads":1}`, c.kdf, 1)
		var hw WrappedKey
		if err := json.Unmarshal([]byte(hostile), &hw); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := UnwrapWithPassphrase(hw, testUser, testPass)
		wantErr(t, err, ErrInvalidBlob)
		if !strings.Contains(err.Error(), c.mention) {
			t.Errorf("error %q does not mention %q", err, c.mention)
		}
		if d := time.Since(start); d > time.Second { // argon2id at these parameters would take many seconds
			t.Errorf("refusing %s took %v", c.kdf, d)
		}
	}
	// A threads value beyond uint8 is already a JSON error.
	var hw WrappedKey
	if err := json.Unmarshal([]byte(`{"kdf":{"threads":300}}`), &hw); err == nil {
		t.Error("threads 300 decoded")
	}
}

func TestValidate(t *testing.T) {
	_, priv := mustKeyPair(t)
	pw := mustPassphraseBlob(t, priv)
	rw := mustRecoveryBlob(t, priv, mustRecoveryKey(t))
	for _, w := range []WrappedKey{pw, rw} {
		if err := w.Validate(); err != nil {
			t.Fatalf("valid %s blob: %v", w.Wrap, err)
		}
	}
	big := &Params{Time: 1, MemoryKiB: MaxMemoryKiB + 1, Threads: 1}
	cases := []struct {
		name   string
		base   WrappedKey
		mutate func(*WrappedKey)
	}{
		{"zero value", WrappedKey{}, func(*WrappedKey) {}},
		{"version 0", pw, func(w *WrappedKey) { w.Version = 0 }},
		{"version 2", pw, func(w *WrappedKey) { w.Version = 2 }},
		{"version -1", rw, func(w *WrappedKey) { w.Version = -1 }},
		{"alg empty", pw, func(w *WrappedKey) { w.KeyAlg = "" }},
		{"alg upper", pw, func(w *WrappedKey) { w.KeyAlg = "X25519" }},
		{"wrap empty", pw, func(w *WrappedKey) { w.Wrap = "" }},
		{"wrap unknown", rw, func(w *WrappedKey) { w.Wrap = "aes-gcm" }},
		{"pass without kdf", pw, func(w *WrappedKey) { w.KDF = nil }},
		{"pass kdf too big", pw, func(w *WrappedKey) { w.KDF = big }},
		{"pass time 0", pw, func(w *WrappedKey) { w.KDF.Time = 0 }},
		{"pass time 21", pw, func(w *WrappedKey) { w.KDF.Time = MaxTime + 1 }},
		{"pass threads 0", pw, func(w *WrappedKey) { w.KDF.Threads = 0 }},
		{"pass threads 65", pw, func(w *WrappedKey) { w.KDF.Threads = MaxThreads + 1; w.KDF.MemoryKiB = 1024 }},
		{"pass memory 7", pw, func(w *WrappedKey) { w.KDF.MemoryKiB = 7 }},
		{"pass no salt", pw, func(w *WrappedKey) { w.Salt = nil }},
		{"pass salt 15", pw, func(w *WrappedKey) { w.Salt = w.Salt[:15] }},
		{"pass salt 65", pw, func(w *WrappedKey) { w.Salt = make([]byte, 65) }},
		{"recovery with kdf", rw, func(w *WrappedKey) { w.KDF = &cheapParams }},
		{"recovery with salt", rw, func(w *WrappedKey) { w.Salt = make([]byte, 16) }},
		{"nonce missing", pw, func(w *WrappedKey) { w.Nonce = nil }},
		{"nonce 12", rw, func(w *WrappedKey) { w.Nonce = w.Nonce[:12] }},
		{"nonce 25", pw, func(w *WrappedKey) { w.Nonce = append(w.Nonce, 0) }},
		{"ct missing", rw, func(w *WrappedKey) { w.Ciphertext = nil }},
		{"ct 47", pw, func(w *WrappedKey) { w.Ciphertext = w.Ciphertext[:47] }},
		{"ct 49", rw, func(w *WrappedKey) { w.Ciphertext = append(w.Ciphertext, 0) }},
		{"ct 32 (tag stripped)", pw, func(w *WrappedKey) { w.Ciphertext = w.Ciphertext[:32] }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := clone(c.base)
			c.mutate(&w)
			wantErr(t, w.Validate(), ErrInvalidBlob)
		})
	}
	// A salt longer than the minimum is fine, up to and including the bound.
	for _, n := range []int{SaltSize, 32, maxSaltSize} {
		w := clone(pw)
		w.Salt = make([]byte, n)
		if err := w.Validate(); err != nil {
			t.Errorf("salt of %d bytes: %v", n, err)
		}
	}
}

// TestSwappedBlobs checks that a recovery blob is not accepted as a
// passphrase blob and vice versa, both as is and relabelled to look like the
// other kind (which only the associated data can catch).
func TestSwappedBlobs(t *testing.T) {
	_, priv := mustKeyPair(t)
	rk := mustRecoveryKey(t)
	pw := mustPassphraseBlob(t, priv)
	rw := mustRecoveryBlob(t, priv, rk)

	_, err := UnwrapWithPassphrase(rw, testUser, testPass)
	wantErr(t, err, ErrInvalidBlob)
	_, err = UnwrapWithRecoveryKey(pw, testUser, rk)
	wantErr(t, err, ErrInvalidBlob)

	relabelled := clone(rw)
	relabelled.Wrap, relabelled.KDF, relabelled.Salt = WrapPassphrase, &cheapParams, make([]byte, SaltSize)
	_, err = UnwrapWithPassphrase(relabelled, testUser, testPass)
	wantErr(t, err, ErrWrongKey)

	relabelled = clone(pw)
	relabelled.Wrap, relabelled.KDF, relabelled.Salt = WrapRecovery, nil, nil
	_, err = UnwrapWithRecoveryKey(relabelled, testUser, rk)
	wantErr(t, err, ErrWrongKey)
}

// TestAssociatedDataBindsHeader recomputes the AEAD with the right key but a
// relabelled header, proving the header (not just the key) is authenticated.
func TestAssociatedDataBindsHeader(t *testing.T) {
	_, priv := mustKeyPair(t)
	rk := mustRecoveryKey(t)
	w := mustRecoveryBlob(t, priv, rk)
	key, err := recoveryWrappingKey(rk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(key, &w, testUser); err != nil {
		t.Fatal(err)
	}
	c := clone(w)
	c.Wrap = WrapPassphrase
	if _, err := open(key, &c, testUser); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("relabelled blob opened with the right key: %v", err)
	}
	c = clone(w)
	c.KeyAlg = "x25519 "
	if _, err := open(key, &c, testUser); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("blob with changed algorithm opened with the right key: %v", err)
	}
	// Length prefixes keep field boundaries unambiguous.
	a := associatedData(&WrappedKey{KeyAlg: "ab", Wrap: "c"}, "u")
	b := associatedData(&WrappedKey{KeyAlg: "a", Wrap: "bc"}, "u")
	if bytes.Equal(a, b) {
		t.Fatal("associated data is ambiguous")
	}
}

func TestParamsValidate(t *testing.T) {
	for _, p := range []Params{DefaultParams(), cheapParams, {Time: MaxTime, MemoryKiB: MaxMemoryKiB, Threads: MaxThreads}, {Time: 1, MemoryKiB: 8, Threads: 1}} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, p := range []Params{{}, {Time: 1, MemoryKiB: 7, Threads: 1}, {Time: 1, MemoryKiB: 64, Threads: 0},
		{Time: 0, MemoryKiB: 64, Threads: 1}, {Time: 1, MemoryKiB: MaxMemoryKiB + 1, Threads: 1}, {Time: 1, MemoryKiB: 1024, Threads: 65}} {
		wantErr(t, p.Validate(), ErrInvalidParams)
	}
	if d := DefaultParams(); d != (Params{Time: 3, MemoryKiB: 65536, Threads: 4}) {
		t.Errorf("DefaultParams = %+v", d)
	}
}
