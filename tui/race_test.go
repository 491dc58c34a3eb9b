//go:build race

package tui

// raceDetector: the race detector is on. It makes the pure-Go SQLite several times slower,
// so a test that seeds a database writes smaller batches, each within the write budget
// (the seeding is not what the test is about).
const raceDetector = true
