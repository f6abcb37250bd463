//go:build race

package main

// testRSSLimit is the client anonymous RSS growth the short soak allows. Under the race
// detector about 120 of the client's 135 MB belong to the race runtime, which keeps growing its
// own metadata for a while and does not give it back; Go's own memory is the same 14 MB as
// without it.
const testRSSLimit = 25
