using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cloister.Remote;

namespace Cloister.Tests;

/// <summary>
/// <c>dotnet Cloister.Remote.dll provision-server …</c> as a real child process, as an operator runs it: its address and
/// metrics URL read from its standard output, stopped with SIGTERM.
/// </summary>
internal sealed class ProvisionServerProcess : IAsyncDisposable
{
    private const string ListeningLine = "Provision server listening on ";
    private const string MetricsLine = "Provision server serves metrics at ";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly StringBuilder _output;
    private readonly Task _drained;

    private ProvisionServerProcess(Process process, StringBuilder output, Task drained, string address, string? metricsUrl)
    {
        _process = process;
        _output = output;
        _drained = drained;
        Address = address;
        MetricsUrl = metricsUrl;
    }

    /// <summary>Where it listens (<c>127.0.0.1:port</c>).</summary>
    public string Address { get; }

    /// <summary>Its <c>/metrics</c> URL, when started with <c>--metrics-port</c>.</summary>
    public string? MetricsUrl { get; }

    /// <summary>Everything it wrote so far, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts the server and waits for its address (and its metrics URL when <c>--metrics-port</c> is given).</summary>
    public static async Task<ProvisionServerProcess> StartAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(ProvisionServer).Assembly.Location);
        start.ArgumentList.Add("provision-server");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var wantsMetrics = arguments.Contains("--metrics-port");
        var process = Process.Start(start)!;
        var output = new StringBuilder();
        string? address = null, metricsUrl = null;
        try
        {
            using var timeout = new CancellationTokenSource(Timeout);
            while (address is null || (wantsMetrics && metricsUrl is null))
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token)
                    ?? throw new InvalidOperationException($"The provision server exited before it listened:{Environment.NewLine}{output}{await process.StandardError.ReadToEndAsync(timeout.Token)}");
                output.AppendLine(line);
                if (line.StartsWith(ListeningLine, StringComparison.Ordinal))
                {
                    address = line[ListeningLine.Length..];
                }
                else if (line.StartsWith(MetricsLine, StringComparison.Ordinal))
                {
                    metricsUrl = line[MetricsLine.Length..];
                }
            }
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }

        // Keep reading, or a full pipe would block the server's logging.
        var drained = Task.WhenAll(Drain(process.StandardOutput, output), Drain(process.StandardError, output));
        return new ProvisionServerProcess(process, output, drained, address, metricsUrl);
    }

    private static async Task Drain(StreamReader reader, StringBuilder output)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    /// <summary>SIGTERM, as a service manager stops it; returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(Timeout);
        await _drained.WaitAsync(Timeout);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
