using System.Buffers.Binary;
using System.Text;
using Cloister.Testing;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Cloister.TestEnclave;

/// <summary>
/// The enclave behind the shared test suite. Its behaviour is chosen by the host through
/// <see cref="EnclaveConfig.Environment"/> and by entry-point selector, so one package covers every test.
/// </summary>
public sealed class TestApplication : TrustedApplication
{
    private static int s_instances;
    private readonly int _instanceNumber = Interlocked.Increment(ref s_instances);
    private long _runs;
    private int _finalizeCount;
    private int _waiting;
    private int _cancellations;
    private EnclaveConfig _config = new();

    protected override ExtensionRegistry? MessageExtensions => [TestEnclaveExtensions.Multiplier, TestEnclaveExtensions.StartValue];

    public override async ValueTask InitializeAsync(EnclaveConfig config, CancellationToken cancellationToken)
    {
        _config = config;
        if (config.Environment.TryGetValue("FAIL_INIT", out var message))
        {
            throw new InvalidOperationException(message);
        }

        if (config.Environment.TryGetValue("FAIL_INIT_STATUS", out var status))
        {
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition, status);
        }

        if (config.Environment.TryGetValue("EXIT_IN_INIT", out var exitCode))
        {
            Environment.Exit(int.Parse(exitCode, System.Globalization.CultureInfo.InvariantCulture));
        }

        _runs = config.GetExtension(TestEnclaveExtensions.StartValue);
        RegisterEntryPoint("echo", (payload, _) => ValueTask.FromResult(payload));
        RegisterEntryPoint("reverse", (payload, _) =>
        {
            var copy = payload.ToArray();
            Array.Reverse(copy);
            return ValueTask.FromResult<ReadOnlyMemory<byte>>(copy);
        });
        // A reply of the size the payload asks for (a little-endian int32): large replies to small requests.
        RegisterEntryPoint("grow", (payload, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Pattern(BitConverter.ToInt32(payload.Span))));
        RegisterEntryPoint("fib", FibonacciAsync);
        RegisterEntryPoint("host", CallHostAsync);
        RegisterEntryPoint("wait", WaitForCancellationAsync);
        RegisterEntryPoint("throw", (_, _) => throw new InvalidOperationException("boom from the enclave"));
        RegisterEntryPoint("throw-status", (_, _) => throw new EnclaveException(EnclaveStatusCode.PermissionDenied, "the enclave says no"));
        RegisterEntryPoint("builtins", UseBuiltInsAsync);
        RegisterEntryPoint("wait-stats", (_, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes($"{_waiting}/{_cancellations}")));
        RegisterEntryPoint("finalize-count", (_, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(BitConverter.GetBytes(_finalizeCount)));
        LoggerFactory.CreateLogger("TestEnclave").LogInformation("Test enclave {Name} initialized", Context.Name);
        await ValueTask.CompletedTask;
    }

    public override ValueTask<EnclaveOutput> RunAsync(EnclaveInput input, CancellationToken cancellationToken)
    {
        var count = Interlocked.Increment(ref _runs);
        var output = new EnclaveOutput { Text = input.Text, Data = input.Data };
        if (input.HasExtension(TestEnclaveExtensions.Multiplier))
        {
            output.SetExtension(TestEnclaveExtensions.Product, count * input.GetExtension(TestEnclaveExtensions.Multiplier));
        }

        output.SetExtension(TestEnclaveExtensions.InstanceNumber, _instanceNumber);
        return ValueTask.FromResult(output);
    }

    public override async ValueTask FinalizeAsync(EnclaveFinal final, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _finalizeCount);
        if (_config.Environment.TryGetValue("FINALIZE_FILE", out var path))
        {
            await Host.WriteFileAsync(path, Encoding.UTF8.GetBytes($"finalized: {final.Reason}\n"), append: true, cancellationToken);
        }

        if (_config.Environment.ContainsKey("FAIL_FINALIZE"))
        {
            throw new InvalidOperationException("finalize failed on purpose");
        }
    }

    /// <summary>
    /// Linear Fibonacci across the boundary: fib(n) in the enclave asks the host for fib(n-1), which asks the
    /// enclave for fib(n-2), ... so the call stack alternates host/enclave n levels deep.
    /// Payload: n (int32); reply: F(n), F(n-1) (two int64).
    /// </summary>
    private async ValueTask<ReadOnlyMemory<byte>> FibonacciAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var n = BinaryPrimitives.ReadInt32LittleEndian(payload.Span);
        var reply = new byte[16];
        if (n <= 1)
        {
            BinaryPrimitives.WriteInt64LittleEndian(reply, n);
            BinaryPrimitives.WriteInt64LittleEndian(reply.AsSpan(8), 0);
            return reply;
        }

        var request = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(request, n - 1);
        var previous = await Host.InvokeAsync("fib", request, cancellationToken);
        var f1 = BinaryPrimitives.ReadInt64LittleEndian(previous.Span);
        var f2 = BinaryPrimitives.ReadInt64LittleEndian(previous.Span[8..]);
        BinaryPrimitives.WriteInt64LittleEndian(reply, f1 + f2);
        BinaryPrimitives.WriteInt64LittleEndian(reply.AsSpan(8), f1);
        return reply;
    }

    /// <summary>Payload: "selector\npayload" (UTF-8); calls that host selector and returns its reply.</summary>
    /// <summary>Bytes 0, 1, 2, ... 250, 0, 1, ...: a reply whose every byte a test can check.</summary>
    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(i % 251);
        }

        return bytes;
    }

    private async ValueTask<ReadOnlyMemory<byte>> CallHostAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var text = Encoding.UTF8.GetString(payload.Span);
        var split = text.IndexOf('\n', StringComparison.Ordinal);
        var selector = split < 0 ? text : text[..split];
        var body = split < 0 ? [] : Encoding.UTF8.GetBytes(text[(split + 1)..]);
        return await Host.InvokeAsync(selector, body, cancellationToken);
    }

    /// <summary>Waits until its token is cancelled, counts that, and lets the cancellation surface.</summary>
    private async ValueTask<ReadOnlyMemory<byte>> WaitForCancellationAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return ReadOnlyMemory<byte>.Empty;
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref _cancellations);
            throw;
        }
    }

    /// <summary>Payload: a folder on the host. Uses every built-in host call and reports what it saw.</summary>
    private async ValueTask<ReadOnlyMemory<byte>> UseBuiltInsAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var folder = Encoding.UTF8.GetString(payload.Span);
        var file = Path.Combine(folder, "from-enclave.txt");
        await Host.WriteFileAsync(file, "written by the enclave"u8.ToArray(), cancellationToken: cancellationToken);
        await Host.WriteFileAsync(file, " and appended"u8.ToArray(), append: true, cancellationToken);
        var readBack = Encoding.UTF8.GetString(await Host.ReadFileAsync(file, cancellationToken));
        await Host.WriteConsoleAsync("to stdout\n", cancellationToken: cancellationToken);
        await Host.WriteConsoleAsync("to stderr\n", error: true, cancellationToken);
        LoggerFactory.CreateLogger("TestEnclave.BuiltIns").LogWarning("logged from the enclave {Value}", 42);
        var now = await Host.GetTimeAsync(cancellationToken);
        string missing;
        try
        {
            await Host.ReadFileAsync(Path.Combine(folder, "does-not-exist"), cancellationToken);
            missing = "found?!";
        }
        catch (EnclaveException ex)
        {
            missing = ex.StatusCode.ToString();
        }

        return Encoding.UTF8.GetBytes($"{readBack}|{now.ToUnixTimeSeconds()}|{missing}");
    }
}

/// <summary>A public type that is not a TrustedApplication, for the "wrong entry type" test.</summary>
public sealed class NotAnApplication
{
}
