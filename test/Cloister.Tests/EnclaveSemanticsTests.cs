using System.Buffers.Binary;
using System.Text;
using Cloister.Testing;

namespace Cloister.Tests;

/// <summary>
/// The semantics every backend must give, test for test. A backend's test class derives from this one and says how
/// to create a manager and a load config for it.
/// </summary>
public abstract class EnclaveSemanticsTests(TestEnclaveFixture enclave) : IAsyncLifetime
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    protected TestEnclaveFixture Enclave { get; } = enclave;

    protected EnclaveManager Manager { get; private set; } = null!;

    protected StringWriter ConsoleOut { get; } = new();

    protected StringWriter ConsoleError { get; } = new();

    protected InMemoryLoggerProvider Logs { get; } = new();

    protected abstract EnclaveManagerOptions CreateOptions();

    protected abstract EnclaveLoadConfig CreateLoadConfig(string name);

    public virtual ValueTask InitializeAsync()
    {
        var options = CreateOptions();
        options.ConsoleOut = TextWriter.Synchronized(ConsoleOut);
        options.ConsoleError = TextWriter.Synchronized(ConsoleError);
        options.LoggerFactory = new Microsoft.Extensions.Logging.LoggerFactory([Logs]);
        Manager = new EnclaveManager(options);
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync() => await Manager.DisposeAsync();

    protected Task<EnclaveClient> LoadAsync(string name, params (string Key, string Value)[] environment)
    {
        var config = CreateLoadConfig(name);
        config.Config ??= new EnclaveConfig();
        foreach (var (key, value) in environment)
        {
            config.Config.Environment[key] = value;
        }

        return Manager.LoadEnclaveAsync(config, TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout);
    }

    protected static async Task<EnclaveException> ThrowsEnclaveAsync(EnclaveStatusCode code, Func<Task> action)
    {
        var ex = await Assert.ThrowsAsync<EnclaveException>(() => action().WaitAsync(Timeout));
        Assert.Equal(code, ex.StatusCode);
        return ex;
    }

    [Fact]
    public async Task Load_run_destroy_round_trip()
    {
        var client = await LoadAsync("basic");
        Assert.Same(client, Manager.GetClient("basic"));
        Assert.Equal(Enclave.Measurement, client.Measurement);

        var output = await client.EnterAndRunAsync(new EnclaveInput { Text = "hello" }).AsTask().WaitAsync(Timeout);
        Assert.Equal("hello", output.Text);

        await Manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout);
        Assert.Null(Manager.GetClient("basic"));
        Assert.True(client.IsDestroyed);
    }

    [Fact]
    public async Task Extensions_cross_the_boundary_both_ways()
    {
        var config = CreateLoadConfig("extensions");
        config.Config = new EnclaveConfig().WithExtension(TestEnclaveExtensions.StartValue, 100);
        var client = await Manager.LoadEnclaveAsync(config).AsTask().WaitAsync(Timeout);

        var output = await client.EnterAndRunAsync(new EnclaveInput().WithExtension(TestEnclaveExtensions.Multiplier, 3)).AsTask().WaitAsync(Timeout);

        // The host parsed the output without a registry: the helper finds the extension in the unknown fields.
        Assert.True(output.HasExtensionValue(TestEnclaveExtensions.Product));
        Assert.Equal(303L, output.GetExtensionValue(TestEnclaveExtensions.Product));
        Assert.False(output.HasExtensionValue(TestEnclaveExtensions.InstanceNumber) && output.GetExtensionValue(TestEnclaveExtensions.InstanceNumber) <= 0);
    }

    [Fact]
    public async Task Second_load_under_a_name_in_use_is_AlreadyExists_and_the_name_is_reusable_after_destroy()
    {
        var first = await LoadAsync("dup");
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.AlreadyExists, () => LoadAsync("dup"));
        Assert.Equal("Name already exists: dup", ex.Message);

        // The first enclave is untouched by the failed load.
        Assert.Equal("still here", (await first.EnterAndRunAsync(new EnclaveInput { Text = "still here" })).Text);

        await Manager.DestroyEnclaveAsync(first);
        var second = await LoadAsync("dup");
        Assert.NotSame(first, second);
        Assert.Equal("again", (await second.EnterAndRunAsync(new EnclaveInput { Text = "again" })).Text);
    }

    [Fact]
    public async Task GetClient_of_an_unknown_name_is_null()
    {
        await LoadAsync("known");
        Assert.Null(Manager.GetClient("unknown"));
    }

    [Fact]
    public async Task Initialize_throwing_fails_the_load_frees_the_name_and_skips_Finalize()
    {
        using var folder = new TempFolder();
        var marker = folder.File("finalized.txt");
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.Unknown,
            () => LoadAsync("bad-init", ("FAIL_INIT", "no config for you"), ("FINALIZE_FILE", marker)));
        Assert.Contains("no config for you", ex.Message);
        Assert.Contains("InvalidOperationException", ex.Message);
        Assert.Null(Manager.GetClient("bad-init"));
        Assert.False(File.Exists(marker), "Finalize must not run after a failed Initialize.");

        // The name is free again and the manager still works.
        var client = await LoadAsync("bad-init");
        Assert.Equal("ok", (await client.EnterAndRunAsync(new EnclaveInput { Text = "ok" })).Text);
    }

    [Fact]
    public async Task Initialize_throwing_an_EnclaveException_keeps_its_code_and_message()
    {
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.FailedPrecondition, () => LoadAsync("bad-status", ("FAIL_INIT_STATUS", "missing sealing key")));
        Assert.Equal("missing sealing key", ex.Message);
    }

    [Fact]
    public async Task Finalize_runs_once_and_calls_after_destroy_fail()
    {
        using var folder = new TempFolder();
        var marker = folder.File("finalized.txt");
        var client = await LoadAsync("finalize-once", ("FINALIZE_FILE", marker));

        await Task.WhenAll(
            Manager.DestroyEnclaveAsync(client, new EnclaveFinal { Reason = "test over" }).AsTask(),
            Manager.DestroyEnclaveAsync(client).AsTask()).WaitAsync(Timeout);
        await Manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout); // idempotent

        Assert.Equal("finalized: test over\n", await File.ReadAllTextAsync(marker));
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.FailedPrecondition, () => client.EnterAndRunAsync(new EnclaveInput()).AsTask());
        Assert.Contains("destroyed", ex.Message);
    }

    [Fact]
    public async Task Finalize_failing_still_tears_down_and_frees_the_name()
    {
        var client = await LoadAsync("bad-finalize", ("FAIL_FINALIZE", "1"));
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.Unknown, () => Manager.DestroyEnclaveAsync(client).AsTask());
        Assert.Contains("finalize failed on purpose", ex.Message);
        Assert.Null(Manager.GetClient("bad-finalize"));
        await LoadAsync("bad-finalize", ("FAIL_FINALIZE", "1"));
    }

    [Fact]
    public async Task Unknown_selector_is_Unimplemented_naming_it()
    {
        var client = await LoadAsync("selectors");
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.Unimplemented, () => client.InvokeAsync("no-such-entry", new byte[] { 1 }).AsTask());
        Assert.Contains("no-such-entry", ex.Message);
        Assert.Equal("fine", (await client.EnterAndRunAsync(new EnclaveInput { Text = "fine" })).Text);
    }

    [Fact]
    public async Task Reserved_selectors_cannot_be_invoked_directly()
    {
        var client = await LoadAsync("reserved");
        await ThrowsEnclaveAsync(EnclaveStatusCode.InvalidArgument, () => client.InvokeAsync("cloister.initialize", Array.Empty<byte>()).AsTask());
    }

    [Fact]
    public async Task Host_call_to_an_unregistered_selector_is_Unimplemented_naming_it()
    {
        var client = await LoadAsync("unregistered");
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.Unimplemented, () => client.InvokeAsync("host", "nobody.home\n"u8.ToArray()).AsTask());
        Assert.Contains("nobody.home", ex.Message);
        Assert.Contains("unregistered", ex.Message);
    }

    [Fact]
    public async Task Host_call_handler_receives_the_payload_and_its_reply_reaches_the_enclave()
    {
        Manager.HostCalls.Register("upper", (context, payload, _) =>
            ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes($"{context.Enclave.Name}:{Encoding.UTF8.GetString(payload.Span).ToUpperInvariant()}")));
        var client = await LoadAsync("custom-host-call");
        var reply = await client.InvokeAsync("host", "upper\nshout"u8.ToArray()).AsTask().WaitAsync(Timeout);
        Assert.Equal("custom-host-call:SHOUT", Encoding.UTF8.GetString(reply.Span));
    }

    [Fact]
    public async Task Host_call_runs_in_the_entry_calls_async_context()
    {
        var flowing = new AsyncLocal<string>();
        Manager.HostCalls.Register("whoami", (_, _, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes(flowing.Value ?? "<none>")));
        var client = await LoadAsync("context");

        async Task<string> CallAs(string caller)
        {
            flowing.Value = caller;
            await Task.Yield();
            return Encoding.UTF8.GetString((await client.InvokeAsync("host", "whoami\n"u8.ToArray())).Span);
        }

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => CallAs($"caller-{i}")))).WaitAsync(Timeout);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => $"caller-{i}"), results);
    }

    [Fact]
    public async Task Exceptions_inside_the_enclave_arrive_with_code_and_message()
    {
        var client = await LoadAsync("errors");
        var unknown = await ThrowsEnclaveAsync(EnclaveStatusCode.Unknown, () => client.InvokeAsync("throw", Array.Empty<byte>()).AsTask());
        Assert.Contains("boom from the enclave", unknown.Message);
        Assert.Null(unknown.EnclaveStackTrace);

        var denied = await ThrowsEnclaveAsync(EnclaveStatusCode.PermissionDenied, () => client.InvokeAsync("throw-status", Array.Empty<byte>()).AsTask());
        Assert.Equal("the enclave says no", denied.Message);

        // The enclave keeps serving after its errors.
        Assert.Equal("alive", (await client.EnterAndRunAsync(new EnclaveInput { Text = "alive" })).Text);
    }

    [Fact]
    public async Task Debug_mode_carries_the_enclave_stack_trace()
    {
        var config = CreateLoadConfig("debug");
        config.Debug = true;
        var client = await Manager.LoadEnclaveAsync(config).AsTask().WaitAsync(Timeout);
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.Unknown, () => client.InvokeAsync("throw", Array.Empty<byte>()).AsTask());
        Assert.NotNull(ex.EnclaveStackTrace);
        Assert.Contains("TestApplication", ex.EnclaveStackTrace);
    }

    [Fact]
    public async Task Debug_mode_carries_the_stack_trace_of_an_EnclaveException_too()
    {
        var config = CreateLoadConfig("debug-status");
        config.Debug = true;
        var client = await Manager.LoadEnclaveAsync(config).AsTask().WaitAsync(Timeout);
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.PermissionDenied, () => client.InvokeAsync("throw-status", Array.Empty<byte>()).AsTask());
        Assert.Equal("the enclave says no", ex.Message);
        Assert.Contains("TestApplication", ex.EnclaveStackTrace);
    }

    [Fact]
    public async Task Cancelling_an_entry_call_cancels_the_enclaves_token()
    {
        var client = await LoadAsync("cancel");
        using var cts = new CancellationTokenSource();
        var call = client.InvokeAsync("wait", Array.Empty<byte>(), cts.Token).AsTask();
        await WaitForStatsAsync(client, "1/0");
        Assert.False(call.IsCompleted);

        await cts.CancelAsync();

        await ThrowsEnclaveAsync(EnclaveStatusCode.Cancelled, () => call);
        await WaitForStatsAsync(client, "1/1"); // the enclave's token fired, not just the host's wait
    }

    [Fact]
    public async Task A_deadline_fails_the_call_with_DeadlineExceeded_and_cancels_the_enclaves_token()
    {
        var client = await LoadAsync("deadline");

        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.DeadlineExceeded,
            () => client.InvokeAsync("wait", Array.Empty<byte>(), EnclaveCallOptions.WithTimeout(TimeSpan.FromMilliseconds(200))).AsTask());

        Assert.Contains("deadline", ex.Message);
        await WaitForStatsAsync(client, "1/1"); // enforced where the enclave runs, not only by the caller giving up
        Assert.Equal("in time", (await client.EnterAndRunAsync(new EnclaveInput { Text = "in time" }, EnclaveCallOptions.WithTimeout(Timeout))).Text);
    }

    [Fact]
    public async Task In_flight_calls_see_cancellation_when_the_enclave_is_destroyed()
    {
        var client = await LoadAsync("destroy-in-flight");
        var call = client.InvokeAsync("wait", Array.Empty<byte>()).AsTask();
        await WaitForStatsAsync(client, "1/0");
        await Manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout);
        var ex = await Assert.ThrowsAsync<EnclaveException>(() => call.WaitAsync(Timeout));
        Assert.True(ex.StatusCode is EnclaveStatusCode.Cancelled or EnclaveStatusCode.Unavailable, $"Unexpected {ex.StatusCode}: {ex.Message}");
    }

    /// <summary>Polls the test enclave's "waiting/cancelled" counters until they read <paramref name="expected"/>.</summary>
    private static async Task WaitForStatsAsync(EnclaveClient client, string expected)
    {
        var deadline = DateTime.UtcNow + Timeout;
        string actual;
        while ((actual = Encoding.UTF8.GetString((await client.InvokeAsync("wait-stats", Array.Empty<byte>())).Span)) != expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"The enclave's wait counters read {actual}, expected {expected}.");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Nested_calls_alternate_host_and_enclave_to_depth_30()
    {
        const int depth = 30;
        var deepest = 0;
        Manager.HostCalls.Register("fib", async (context, payload, cancellationToken) =>
        {
            var n = BinaryPrimitives.ReadInt32LittleEndian(payload.Span);
            InterlockedMax(ref deepest, depth - n);
            return await context.Enclave.InvokeAsync("fib", payload, cancellationToken);
        });
        var client = await LoadAsync("fib");

        var reply = await client.InvokeAsync("fib", BitConverter.GetBytes(depth)).AsTask().WaitAsync(Timeout);

        Assert.Equal(832040L, BinaryPrimitives.ReadInt64LittleEndian(reply.Span)); // F(30)
        Assert.Equal(depth - 1, deepest);
    }

    [Fact]
    public async Task Concurrent_callers_get_their_own_results()
    {
        const int callers = 64, calls = 256;
        var client = await LoadAsync("concurrent");
        var failures = 0;

        await Task.WhenAll(Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
        {
            for (var i = 0; i < calls; i++)
            {
                var text = $"{caller}:{i}";
                var viaRun = await client.EnterAndRunAsync(new EnclaveInput { Text = text });
                var viaInvoke = await client.InvokeAsync("echo", Encoding.UTF8.GetBytes(text));
                if (viaRun.Text != text || Encoding.UTF8.GetString(viaInvoke.Span) != text)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }))).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(0, failures);
    }

    [Fact]
    public async Task Built_in_host_calls_reach_console_logs_files_and_clock()
    {
        using var folder = new TempFolder();
        var client = await LoadAsync("builtins");
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var reply = Encoding.UTF8.GetString((await client.InvokeAsync("builtins", Encoding.UTF8.GetBytes(folder.Path)).AsTask().WaitAsync(Timeout)).Span);

        var parts = reply.Split('|');
        Assert.Equal("written by the enclave and appended", parts[0]);
        Assert.Equal("written by the enclave and appended", await File.ReadAllTextAsync(folder.File("from-enclave.txt")));
        Assert.InRange(long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), before - 5, before + 60);
        Assert.Equal(nameof(EnclaveStatusCode.NotFound), parts[2]);
        Assert.Contains("to stdout\n", ConsoleOut.ToString());
        Assert.Contains("to stderr\n", ConsoleError.ToString());

        // Logs are forwarded asynchronously; destroying the enclave flushes them.
        await Manager.DestroyEnclaveAsync(client);
        Assert.Contains(Logs.Records, r => r.Category == "TestEnclave.BuiltIns" && r.Message == "logged from the enclave 42" && r.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.Contains(Logs.Records, r => r.Category == "TestEnclave" && r.Message == "Test enclave builtins initialized");
    }

    [Fact]
    public async Task Host_file_root_confines_file_host_calls()
    {
        using var root = new TempFolder();
        using var outside = new TempFolder();
        await Manager.DisposeAsync();
        var options = CreateOptions();
        options.HostFileRoot = root.Path;
        await using var confined = new EnclaveManager(options);
        var client = await confined.LoadEnclaveAsync(CreateLoadConfig("confined")).AsTask().WaitAsync(Timeout);

        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.PermissionDenied, () => client.InvokeAsync("builtins", Encoding.UTF8.GetBytes(outside.Path)).AsTask());
        Assert.Contains("HostFileRoot", ex.Message);
        Assert.Empty(Directory.GetFiles(outside.Path));
    }

    [Fact]
    public async Task Expected_measurement_mismatch_is_PermissionDenied_before_any_code_runs()
    {
        var config = CreateLoadConfig("measured");
        config.ExpectedMeasurement = new string('0', 64);
        var ex = await ThrowsEnclaveAsync(EnclaveStatusCode.PermissionDenied, () => Manager.LoadEnclaveAsync(config).AsTask());
        Assert.Contains(Enclave.Measurement, ex.Message);
        Assert.Null(Manager.GetClient("measured"));

        config.ExpectedMeasurement = Enclave.Measurement.ToUpperInvariant();
        var client = await Manager.LoadEnclaveAsync(config).AsTask().WaitAsync(Timeout);
        Assert.Equal(Enclave.Measurement, client.Measurement);
    }

    [Fact]
    public async Task Each_load_gets_fresh_enclave_state()
    {
        var a = await LoadAsync("state-a");
        var b = await LoadAsync("state-b");
        var outA = await a.EnterAndRunAsync(new EnclaveInput());
        var outB = await b.EnterAndRunAsync(new EnclaveInput());
        Assert.Equal(1, outA.GetExtensionValue(TestEnclaveExtensions.InstanceNumber));
        Assert.Equal(1, outB.GetExtensionValue(TestEnclaveExtensions.InstanceNumber));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
