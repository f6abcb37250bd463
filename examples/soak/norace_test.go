//go:build !race

package main

// testRSSLimit is the client anonymous RSS growth the short soak allows: the program's default.
const testRSSLimit = 10
