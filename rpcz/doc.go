// Package rpcz keeps the recent calls and requests of a process for people to look at, as brpc's
// rpcz does: a bounded ring of sampled traces, each a call (or a server's request) with its
// attempts, retries, backup requests and sub-calls, their servers, codes, log ids and times.
//
// A [Recorder] is given to [github.com/troupe-rpc/troupe/actors.SystemOptions] and ServerOptions (field Rpcz); the
// console (package console) shows it at /rpcz. It records through troupe's tracing: with a
// TracerProvider set as well, every span goes to both, and the recorded spans carry the
// provider's ids. Without one, the Recorder makes brpc-compatible ids itself (64-bit trace ids),
// which travel in RpcMeta's trace_id, span_id and parent_span_id as brpc's rpcz fields do, so a
// brpc server's rpcz shows the same ids.
//
// Sampling is per local root (a call made by the program, a request a Server received): the first
// [Options.PerSecond] of each second are recorded with everything under them, the rest not at
// all. troupe asks the Recorder before it builds a span's attributes, so an unsampled call
// allocates nothing more (BenchmarkUnaryEchoMetrics/metrics=rpcz: 16 allocations per call, as
// without a Recorder); with no Recorder and no TracerProvider, calls are not traced at all. Memory is bounded by
// [Options.Capacity] traces of at most [Options.MaxSpans] spans each.
package rpcz
