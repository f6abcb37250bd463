// Package console is a process's debugging console: one [http.Handler] that shows a troupe
// System and its Servers to a person in a browser, with pages a brpc user knows and every page
// also as JSON (?format=json):
//
//   - /status: every server method and client channel method with calls/s now (the last
//     complete second) and over the last minute, latency percentiles, errors by code,
//     concurrency, retries, backup requests and rejections;
//   - /connections: the servers' connections (client, age, requests, requests in handlers,
//     bytes, writes and answers per write, TLS) and the client's sockets (state, pending
//     attempts, bytes, frames per write, last error);
//   - /vars: every metric, searchable, each with a plot of its last minute drawn as inline SVG
//     (counters plot their rate per second); the console samples them once a second;
//   - /rpcz: recent calls and requests from the recorders of package rpcz, filtered by minimum
//     latency, error code, log id or method, and one call's page with its attempts, retries,
//     backup requests and sub-calls on a timeline;
//   - /inspect: the live actor trees of the System and the Servers, reloading every 2 s, each
//     call with its channel, deadline and time left, retries, log id and what it waits on.
//
// The pages are plain HTML with a little inline CSS and JavaScript: nothing is fetched from
// elsewhere, so the console works on a machine without internet access. Mount it under a prefix
// with [http.StripPrefix]; the pages link to each other relatively. It shows addresses, methods,
// log ids and error texts and changes nothing: serve it where only the process's operators reach
// it, as one does brpc's built-in services.
//
// The console reads what troupe measures anyway (System.Stats, Server.Stats, the Inspect
// trees, rpcz recorders): it adds nothing to a call's cost. Its sampling goroutine runs until
// [Console.Close].
package console
