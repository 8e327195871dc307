using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>
/// Runs the proxy as a child process on this machine. Its standard output and error go to the host's logger
/// (category <c>Cloister.Proxy</c>); it lives until the enclave is destroyed, and exits by itself if the host dies.
/// </summary>
public sealed partial class LocalProxyProvision : IRemoteProvision
{
    private const int KeptOutputLines = 40;
    private const string ReadyToRunProxyFolder = "cloister-proxy";
    private const string ShippedProxyName = "Cloister.Remote.dll";
    private readonly LocalProxyProvisionOptions _options;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource<ProxyExitStatus> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Queue<string> _lastOutput = new();
    private Process? _process;
    private string _name = "";
    private int _finalized;
    private volatile bool _killed;

    /// <summary>Creates a provision; <see cref="ProvisionAsync"/> starts the process.</summary>
    public LocalProxyProvision(LocalProxyProvisionOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        _options = options ?? new LocalProxyProvisionOptions();
        _logger = (loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger("Cloister.Proxy");
    }

    /// <inheritdoc />
    public Task<ProxyExitStatus> Exited => _exited.Task;

    /// <summary>The proxy's process id, once started.</summary>
    public int? ProcessId { get; private set; }

    /// <inheritdoc />
    public string? ProxyHost => null;

    /// <inheritdoc />
    public string RecentOutput
    {
        get
        {
            lock (_lastOutput)
            {
                return string.Join(Environment.NewLine, _lastOutput);
            }
        }
    }

    /// <inheritdoc />
    public ValueTask ProvisionAsync(ProxyProvisionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_process is not null)
        {
            throw new InvalidOperationException("This provision already started a proxy; use one LocalProxyProvision per enclave.");
        }

        _name = request.EnclaveName;
        var start = CreateStartInfo(ResolveProxyPath());
        foreach (var argument in ProxyArguments(request))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var argument in _options.ExtraArguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The token goes in the environment, not the command line, where any local user could read it.
        start.Environment[ProxyCommand.SessionTokenVariable] = request.SessionToken;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnOutput(e.Data, error: false);
        process.ErrorDataReceived += (_, e) => OnOutput(e.Data, error: true);
        process.Exited += (_, _) => OnExited(process);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition,
                $"Could not start the proxy '{start.FileName}' for enclave '{_name}': {ex.Message}. Set LocalProxyProvisionOptions.ProxyPath (or --remote-proxy) to the cloister tool.", ex);
        }

        _process = process;
        ProcessId = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        LogStarted(_name, process.Id, start.FileName);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask FinalizeAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _finalized, 1) != 0 || _process is not { } process)
        {
            if (_process is not null)
            {
                await _exited.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        try
        {
            await _exited.Task.WaitAsync(gracePeriod, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogKilling(_name, process.Id, gracePeriod.TotalSeconds);
            try
            {
                _killed = true;
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited in the meantime.
            }

            await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await FinalizeAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _process?.Dispose();
    }

    /// <remarks>
    /// Values that may come from a remote caller (through a provision server: the enclave's name, its expected measurement,
    /// the host's address) go as <c>--option=value</c>, one token each, so that no value can read as an option of its
    /// own; the proxy's parser reads no response files either (<see cref="ProxyCommand.ParserConfiguration"/>).
    /// </remarks>
    private static IEnumerable<string> ProxyArguments(ProxyProvisionRequest request)
    {
        yield return "proxy";
        yield return "--client-address=" + request.ClientAddress;
        yield return "--package=" + Path.GetFullPath(request.PackagePath);
        yield return "--name=" + request.EnclaveName;
        yield return "--parent-pid";
        yield return Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (!string.IsNullOrEmpty(request.ExpectedMeasurement))
        {
            yield return "--expected-measurement=" + request.ExpectedMeasurement;
        }

        if (request.ListenAddress is not null)
        {
            yield return "--listen-address";
            yield return request.ListenAddress;
        }

        if (request.MetricsPort is { } metricsPort)
        {
            yield return "--metrics-port";
            yield return metricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!string.IsNullOrEmpty(request.MetricsAddress))
            {
                yield return "--metrics-address";
                yield return request.MetricsAddress;
            }
        }

        if (request.Debug)
        {
            yield return "--debug";
        }

        foreach (var argument in request.Security.ToArguments())
        {
            yield return argument;
        }
    }

    private string ResolveProxyPath()
    {
        var configured = _options.ProxyPath ?? Environment.GetEnvironmentVariable("CLOISTER_REMOTE_PROXY");
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured)
                ? Path.GetFullPath(configured)
                : throw new EnclaveException(EnclaveStatusCode.NotFound, $"The proxy program '{configured}' does not exist; point LocalProxyProvisionOptions.ProxyPath (or --remote-proxy) at the cloister tool or Cloister.Remote.dll.");
        }

        return ShippedProxyPath()
            ?? throw new EnclaveException(EnclaveStatusCode.NotFound,
                $"Cannot run the proxy that ships with Cloister.Remote: neither '{Path.Combine(ReadyToRunProxyFolder, ShippedProxyName)}' nor '{ShippedProxyName}' with its runtimeconfig.json is next to it. Set LocalProxyProvisionOptions.ProxyPath (or --remote-proxy) to the cloister tool.");
    }

    /// <summary>
    /// The proxy that ships with this library, when it is there: the precompiled copy in <c>cloister-proxy/</c> (see
    /// ReadyToRunProxy.targets; it starts ~100 ms sooner), else <c>Cloister.Remote.dll</c> itself.
    /// </summary>
    internal static string? ShippedProxyPath()
    {
        var folder = Path.GetDirectoryName(typeof(LocalProxyProvision).Assembly.Location) ?? AppContext.BaseDirectory;
        foreach (var candidate in (string[])[Path.Combine(folder, ReadyToRunProxyFolder, ShippedProxyName), Path.Combine(folder, ShippedProxyName)])
        {
            if (File.Exists(Path.ChangeExtension(candidate, ".runtimeconfig.json")))
            {
                return candidate;
            }
        }

        return null;
    }

    private static ProcessStartInfo CreateStartInfo(string proxyPath)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        if (proxyPath.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            start.FileName = DotnetHost();
            start.ArgumentList.Add(proxyPath);
        }
        else
        {
            start.FileName = proxyPath;
        }

        return start;
    }

    /// <summary>The dotnet host that runs this process's runtime (…/dotnet/shared/Microsoft.NETCore.App/x.y.z/ → …/dotnet/dotnet).</summary>
    private static string DotnetHost()
    {
        var name = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.ProcessPath is { } current && Path.GetFileName(current) == name)
        {
            return current;
        }

        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var candidate = Path.Combine(root, name);
        return File.Exists(candidate) ? candidate : name;
    }

    private void OnOutput(string? line, bool error)
    {
        if (line is null)
        {
            return;
        }

        lock (_lastOutput)
        {
            _lastOutput.Enqueue(line);
            while (_lastOutput.Count > KeptOutputLines)
            {
                _lastOutput.Dequeue();
            }
        }

        if (error)
        {
            LogProxyError(_name, line);
        }
        else
        {
            LogProxyOutput(_name, line);
        }
    }

    private void OnExited(Process process)
    {
        // Exited can fire before the last output lines are read; WaitForExit() drains them first.
        process.WaitForExit();
        var status = new ProxyExitStatus(process.ExitCode);
        LogExited(_name, process.Id, status.ToString());
        ProxyExitMetrics.Record(_name, status, _killed);
        _exited.TrySetResult(status);
    }

    [LoggerMessage(100, LogLevel.Debug, "Started proxy for enclave '{Name}' (pid {Pid}, {Program})")]
    private partial void LogStarted(string name, int pid, string program);

    [LoggerMessage(101, LogLevel.Information, "[{Name}] {Line}")]
    private partial void LogProxyOutput(string name, string line);

    [LoggerMessage(102, LogLevel.Warning, "[{Name}] {Line}")]
    private partial void LogProxyError(string name, string line);

    [LoggerMessage(103, LogLevel.Information, "Proxy for enclave '{Name}' (pid {Pid}) exited: {Status}")]
    private partial void LogExited(string name, int pid, string status);

    [LoggerMessage(104, LogLevel.Warning, "Proxy for enclave '{Name}' (pid {Pid}) did not exit within {Seconds} s; killing it")]
    private partial void LogKilling(string name, int pid, double seconds);
}
