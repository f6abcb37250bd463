//go:build !race

package main

// testRSSLimit is the client RSS change the short soak allows: the program's default.
const testRSSLimit = 10
