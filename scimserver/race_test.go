//go:build race

package scimserver

// raceDetector: the race detector is on. It makes the pure-Go SQLite several times slower,
// so the tests that time writes against the write budget do not run under it.
const raceDetector = true
