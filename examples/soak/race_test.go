//go:build race

package main

// underRace reports that the test runs under the race detector. About 120 of the client's 135 MB
// of anonymous RSS then belong to the race runtime, which keeps growing its own metadata for a
// while and does not give it back (the short soak's RSS grew 22 – 25 % with the Go runtime's
// memory flat), so the short soak judges the Go runtime's memory instead.
const underRace = true
