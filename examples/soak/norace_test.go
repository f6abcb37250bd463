//go:build !race

package main

// underRace reports that the test runs under the race detector: it does not.
const underRace = false
