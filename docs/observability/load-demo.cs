// The load behind docs/observability.md's picture: the demo's HelloEnclave, loaded twice on the remote backend, called
// for a bounded time while Prometheus scrapes the two proxies' /metrics. Loopback only: the host talks to its proxies
// over Unix sockets, and the proxies serve their metrics on 127.0.0.1.
//
//   dotnet build src/Cloister.Cli -c Release            # builds the HelloEnclave example next to the tool
//   dotnet run docs/observability/load-demo.cs -- --seconds 60
//
// "hello-fr" gets four callers back to back; "hello-en" one caller whose pace rises and falls, and now and then a call
// to an entry point it does not have (Unimplemented), so the failure panels have something to show.
#:project ../../src/Cloister.Remote/Cloister.Remote.csproj

using System.Diagnostics;
using Cloister;
using Cloister.Remote;

var seconds = 60;
var ports = (First: 9464, Second: 9465);
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--seconds" when i + 1 < args.Length && int.TryParse(args[i + 1], out var s) && s is > 0 and <= 600:
            seconds = s;
            i++;
            break;
        case "--ports" when i + 1 < args.Length && args[i + 1].Split(',') is [var a, var b] && int.TryParse(a, out var pa) && int.TryParse(b, out var pb):
            ports = (pa, pb);
            i++;
            break;
        default:
            Console.Error.WriteLine("usage: load-demo.cs [--seconds 1..600] [--ports 9464,9465]");
            return 2;
    }
}

var enclaveFolder = FindHelloEnclave();
var work = Directory.CreateTempSubdirectory("cloister-load-demo-").FullName;
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

try
{
    var package = Path.Combine(work, "hello.cloister");
    await EnclavePackage.CreateAsync(enclaveFolder, package);
    await using var french = await LoadAsync("hello-fr", "Bonjour", ports.First);
    await using var english = await LoadAsync("hello-en", "Hello", ports.Second);
    Console.WriteLine($"Calling for {seconds} s; metrics at http://127.0.0.1:{ports.First}/metrics (hello-fr) and http://127.0.0.1:{ports.Second}/metrics (hello-en).");

    var clock = Stopwatch.StartNew();
    long calls = 0, failures = 0;
    async Task CallerAsync(EnclaveClient client, Func<TimeSpan> pause, double failureShare)
    {
        var input = new EnclaveInput { Text = "load" };
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (Random.Shared.NextDouble() < failureShare)
                {
                    await client.InvokeAsync("no-such-entry", ReadOnlyMemory<byte>.Empty);
                }
                else
                {
                    await client.EnterAndRunAsync(input);
                }

                Interlocked.Increment(ref calls);
            }
            catch (EnclaveException)
            {
                Interlocked.Increment(ref failures);
            }

            if (pause() is { Ticks: > 0 } wait)
            {
                try
                {
                    await Task.Delay(wait, stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
    }

    // hello-en's pace follows a 40 s wave: from ~100 to ~1000 calls/s (on an idle machine).
    TimeSpan Wave() => TimeSpan.FromMilliseconds(0.5 + 4.5 * (1 + Math.Sin(clock.Elapsed.TotalSeconds * Math.PI / 20)));
    var callers = Enumerable.Range(0, 4).Select(_ => CallerAsync(french.Client, () => TimeSpan.Zero, 0))
        .Append(CallerAsync(english.Client, Wave, 0.02))
        .ToArray();
    while (!stop.IsCancellationRequested)
    {
        await Task.WhenAny(Task.Delay(TimeSpan.FromSeconds(10)), Task.WhenAll(callers));
        Console.WriteLine($"{clock.Elapsed.TotalSeconds,5:0} s: {Interlocked.Read(ref calls):N0} calls, {Interlocked.Read(ref failures):N0} failed");
    }

    await Task.WhenAll(callers);
    return 0;
}
finally
{
    Directory.Delete(work, recursive: true);
}

async Task<LoadedDemo> LoadAsync(string name, string greeting, int metricsPort)
{
    var greetingFile = Path.Combine(work, $"{name}.txt");
    await File.WriteAllTextAsync(greetingFile, greeting);
    var backend = new RemoteBackend(new RemoteProxyConfig { ProxyMetricsPort = metricsPort, ProxyMetricsAddress = "127.0.0.1" });
    var options = new EnclaveManagerOptions { ConsoleOut = TextWriter.Null };
    options.Backends.Add(backend);
    var manager = new EnclaveManager(options);
    var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig
    {
        Name = name,
        PackagePath = Path.Combine(work, "hello.cloister"),
        Backend = RemoteBackend.BackendName,
        Config = new EnclaveConfig { Environment = { ["GREETING_FILE"] = greetingFile } },
    });
    return new LoadedDemo(manager, backend, client);
}

static string FindHelloEnclave()
{
    for (var directory = new DirectoryInfo(Environment.CurrentDirectory); directory is not null; directory = directory.Parent)
    {
        var candidate = Path.Combine(directory.FullName, "src", "Cloister.Cli", "bin", "Release", "net10.0", "enclaves", "HelloEnclave");
        if (Directory.Exists(candidate))
        {
            return candidate;
        }
    }

    throw new DirectoryNotFoundException("HelloEnclave's build output was not found; run `dotnet build src/Cloister.Cli -c Release` from the repository first.");
}

/// <summary>One enclave with its own manager and backend, so that each proxy gets its own metrics port.</summary>
internal sealed record LoadedDemo(EnclaveManager Manager, RemoteBackend Backend, EnclaveClient Client) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        await Manager.DisposeAsync();
        await Backend.DisposeAsync();
    }
}
