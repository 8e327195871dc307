using System.Diagnostics;

namespace Cloister.Perf.Measurement;

/// <summary>An operation under measurement: one call, awaited.</summary>
internal delegate ValueTask Operation(CancellationToken cancellationToken);

/// <summary>
/// The measuring loops. Each is bounded by a count and by a time, so a run always ends. Operations that are compared
/// are measured in short alternating blocks, not one after the other: on a shared machine, load from elsewhere comes
/// and goes over seconds, and alternating makes it fall on the floor and on Cloister alike.
/// </summary>
internal static class Sampler
{
    /// <summary>Calls <paramref name="operation"/> one at a time, recording each round trip, until either bound is reached.</summary>
    public static async Task RecordAsync(Operation operation, LatencySamples into, int maxCalls, TimeSpan maxTime, CancellationToken cancellationToken)
    {
        var clientBefore = into.Server is null ? default : CpuMeter.Self.Read();
        var serverBefore = into.Server?.Read() ?? default;
        var clientSwitchesBefore = into.Server is null ? -1 : CpuMeter.Self.ReadContextSwitches();
        var serverSwitchesBefore = into.Server?.ReadContextSwitches() ?? -1;
        var deadline = Stopwatch.GetTimestamp() + Ticks(maxTime);
        var calls = 0;
        while (calls < maxCalls && !into.IsFull && !cancellationToken.IsCancellationRequested)
        {
            var start = Stopwatch.GetTimestamp();
            await operation(cancellationToken);
            var end = Stopwatch.GetTimestamp();
            into.Add(end - start);
            calls++;
            if (end >= deadline)
            {
                break;
            }
        }

        if (into.Server is { } server && calls > 0)
        {
            into.AddCpu(CpuMeter.Self.Read() - clientBefore, server.Read() - serverBefore, calls);
            if (clientSwitchesBefore >= 0 && serverSwitchesBefore >= 0)
            {
                into.AddContextSwitches(CpuMeter.Self.ReadContextSwitches() - clientSwitchesBefore, server.ReadContextSwitches() - serverSwitchesBefore, calls);
            }
        }
    }

    /// <summary>
    /// Records every operation in turn, <paramref name="blockCalls"/> calls at a time (the order rotating each cycle),
    /// until every one has its samples full or <paramref name="maxTime"/> has passed.
    /// </summary>
    public static async Task RecordInterleavedAsync(IReadOnlyList<(Operation Operation, LatencySamples Samples)> operations, int blockCalls, TimeSpan maxTime, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + Ticks(maxTime);
        for (var cycle = 0; Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested && operations.Any(o => !o.Samples.IsFull); cycle++)
        {
            for (var k = 0; k < operations.Count; k++)
            {
                var (operation, samples) = operations[(k + cycle) % operations.Count];
                await RecordAsync(operation, samples, blockCalls, Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline), cancellationToken);
            }
        }
    }

    /// <summary>Runs <paramref name="operation"/> unmeasured, to get code tiered up and connections and buffers warm.</summary>
    public static Task WarmUpAsync(Operation operation, int maxCalls, TimeSpan maxTime, CancellationToken cancellationToken) =>
        RecordAsync(operation, new LatencySamples("warm-up", maxCalls), maxCalls, maxTime, cancellationToken);

    /// <summary>
    /// <paramref name="callers"/> concurrent loops of <paramref name="operation"/> for <paramref name="duration"/>; returns
    /// the calls completed and the time it took (the last calls started before the end finish after it and count).
    /// </summary>
    public static Task<(long Calls, TimeSpan Elapsed)> RunConcurrentAsync(Operation operation, int callers, TimeSpan duration, CancellationToken cancellationToken) =>
        RunConcurrentAsync(_ => operation, callers, duration, latency: null, cancellationToken);

    /// <summary>
    /// As above, with the operation of each caller (<paramref name="caller"/> is given its index, e.g. to use a channel of
    /// its own); when <paramref name="latency"/> is given, every call's round trip is recorded into it too.
    /// </summary>
    public static async Task<(long Calls, TimeSpan Elapsed)> RunConcurrentAsync(Func<int, Operation> caller, int callers, TimeSpan duration, LatencySamples? latency, CancellationToken cancellationToken)
    {
        long calls = 0;
        var start = Stopwatch.GetTimestamp();
        var stopAt = start + Ticks(duration);
        var loops = new Task[callers];
        for (var i = 0; i < callers; i++)
        {
            var operation = caller(i);
            loops[i] = Task.Run(async () =>
            {
                long mine = 0;
                var times = latency is null ? null : new List<long>(1024);
                while (Stopwatch.GetTimestamp() < stopAt && !cancellationToken.IsCancellationRequested)
                {
                    var begin = Stopwatch.GetTimestamp();
                    await operation(cancellationToken);
                    times?.Add(Stopwatch.GetTimestamp() - begin);
                    mine++;
                }

                Interlocked.Add(ref calls, mine);
                if (times is not null)
                {
                    latency!.AddConcurrently(times);
                }
            }, CancellationToken.None);
        }

        await Task.WhenAll(loops);
        return (calls, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>
    /// Alternates <paramref name="slice"/>-long concurrent runs of each operation (the order rotating each cycle) for
    /// about <paramref name="maxTime"/> in all.
    /// </summary>
    public static Task CompareConcurrentAsync(IReadOnlyList<(Operation Operation, Throughput Into)> operations, int callers, TimeSpan slice, TimeSpan maxTime, CancellationToken cancellationToken) =>
        CompareConcurrentAsync(operations.Select(o => ((Func<int, Operation>)(_ => o.Operation), o.Into)).ToList(), callers, slice, maxTime, cancellationToken);

    /// <summary>As above, with the operation of each caller; the round trips go to <see cref="Throughput.Latency"/> where it is set.</summary>
    public static async Task CompareConcurrentAsync(IReadOnlyList<(Func<int, Operation> Caller, Throughput Into)> operations, int callers, TimeSpan slice, TimeSpan maxTime, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + Ticks(maxTime);
        for (var cycle = 0; Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested; cycle++)
        {
            for (var k = 0; k < operations.Count; k++)
            {
                var (caller, into) = operations[(k + cycle) % operations.Count];
                var (calls, elapsed) = await RunConcurrentAsync(caller, callers, slice, into.Latency, cancellationToken);
                into.Add(calls, elapsed);
            }
        }
    }

    private static long Ticks(TimeSpan time) => (long)(time.TotalSeconds * Stopwatch.Frequency);
}
