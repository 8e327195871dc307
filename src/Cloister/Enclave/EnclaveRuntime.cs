using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Cloister;

/// <summary>
/// The enclave side of every backend: owns one <see cref="TrustedApplication"/>, enforces its lifecycle and
/// dispatches entry calls by selector. Backends move bytes to <see cref="InvokeAsync"/>; this class gives the
/// same semantics whatever carries them.
/// </summary>
internal sealed class EnclaveRuntime : IAsyncDisposable
{
    private const int Created = 0, Initializing = 1, Running = 2, Finalizing = 3, Finalized = 4, Failed = 5;

    private readonly TrustedApplication _application;
    private readonly EnclaveContext _context;
    private readonly HostLoggerProvider _loggerProvider;
    private readonly ILoggerFactory _loggerFactory;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly MessageParser<EnclaveConfig> _configParser;
    private readonly MessageParser<EnclaveInput> _inputParser;
    private readonly MessageParser<EnclaveFinal> _finalParser;
    private int _state;

    public EnclaveRuntime(TrustedApplication application, string name, bool debug, HostCallSender hostCalls)
    {
        _application = application;
        Debug = debug;
        _loggerProvider = new HostLoggerProvider(hostCalls);
        _loggerFactory = new HostLoggerFactory(_loggerProvider);
        _context = new EnclaveContext(name, debug, hostCalls, _loggerFactory);
        application.Attach(_context);

        var extensions = application.MessageExtensions;
        _configParser = extensions is null ? EnclaveConfig.Parser : EnclaveConfig.Parser.WithExtensionRegistry(extensions);
        _inputParser = extensions is null ? EnclaveInput.Parser : EnclaveInput.Parser.WithExtensionRegistry(extensions);
        _finalParser = extensions is null ? EnclaveFinal.Parser : EnclaveFinal.Parser.WithExtensionRegistry(extensions);
    }

    public string Name => _context.Name;

    public bool Debug { get; }

    public TrustedApplication Application => _application;

    public bool IsRunning => Volatile.Read(ref _state) == Running;

    /// <summary>Dispatches one entry call. Errors are thrown as <see cref="EnclaveException"/> only.</summary>
    public ValueTask<ReadOnlyMemory<byte>> InvokeAsync(string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _state) == Running && _context.TryGetEntryPoint(selector, out var handler))
        {
            return InvokeEntryPointAsync(handler, payload, cancellationToken);
        }

        return selector switch
        {
            Selectors.Run => RunAsync(payload, cancellationToken),
            Selectors.Initialize => InitializeAsync(payload, cancellationToken),
            Selectors.Finalize => FinalizeAsync(payload, cancellationToken),
            _ => ValueTask.FromException<ReadOnlyMemory<byte>>(UnknownSelector(selector)),
        };
    }

    private EnclaveException UnknownSelector(string selector) =>
        Volatile.Read(ref _state) != Running
            ? NotRunning()
            : new EnclaveException(EnclaveStatusCode.Unimplemented,
                $"Enclave '{Name}' has no entry point '{selector}'. Register it with RegisterEntryPoint in the enclave's InitializeAsync.");

    private static EnclaveException NotRunning() => new(EnclaveStatusCode.FailedPrecondition, "Enclave not in state RUNNING");

    private async ValueTask<ReadOnlyMemory<byte>> InvokeEntryPointAsync(EntryPointHandler handler, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        using var linked = LinkToLifetime(cancellationToken, out var token);
        try
        {
            return await handler(payload, token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw EnclaveErrors.FromEnclave(ex, Debug, token);
        }
    }

    private async ValueTask<ReadOnlyMemory<byte>> RunAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _state) != Running)
        {
            throw NotRunning();
        }

        var input = Parse(_inputParser, payload, "EnclaveInput");
        using var linked = LinkToLifetime(cancellationToken, out var token);
        EnclaveOutput output;
        try
        {
            output = await _application.RunAsync(input, token).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"{_application.GetType().FullName}.RunAsync returned null; return an EnclaveOutput (it may be empty).");
        }
        catch (Exception ex)
        {
            throw EnclaveErrors.FromEnclave(ex, Debug, token);
        }

        return output.ToByteArray();
    }

    private async ValueTask<ReadOnlyMemory<byte>> InitializeAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Initializing, Created) != Created)
        {
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition,
                $"Enclave '{Name}' is already initialized; InitializeAsync runs once per load. Destroy the enclave and load it again to start over.");
        }

        try
        {
            var config = Parse(_configParser, payload, "EnclaveConfig");
            await _application.InitializeAsync(config, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _state, Running);
            return ReadOnlyMemory<byte>.Empty;
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _state, Failed);
            await _loggerProvider.FlushAsync().ConfigureAwait(false);
            throw EnclaveErrors.FromEnclave(ex, Debug, cancellationToken);
        }
    }

    private async ValueTask<ReadOnlyMemory<byte>> FinalizeAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Finalizing, Running) != Running)
        {
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition,
                $"Enclave '{Name}' cannot be finalized: it is not running (FinalizeAsync runs once, after a successful InitializeAsync).");
        }

        try
        {
            var final = Parse(_finalParser, payload, "EnclaveFinal");
            await _application.FinalizeAsync(final, cancellationToken).ConfigureAwait(false);
            return ReadOnlyMemory<byte>.Empty;
        }
        catch (Exception ex)
        {
            throw EnclaveErrors.FromEnclave(ex, Debug, cancellationToken);
        }
        finally
        {
            Volatile.Write(ref _state, Finalized);
            await _lifetime.CancelAsync().ConfigureAwait(false);
            await _loggerProvider.FlushAsync().ConfigureAwait(false);
        }
    }

    private static T Parse<T>(MessageParser<T> parser, ReadOnlyMemory<byte> payload, string what)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"The {what} sent to the enclave is not a valid protobuf message: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// The token handed to the application: cancelled by the caller or by finalization. Avoids allocating a
    /// linked source when the caller's token cannot be cancelled (the common, fast case).
    /// </summary>
    private CancellationTokenSource? LinkToLifetime(CancellationToken cancellationToken, out CancellationToken token)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            token = _lifetime.Token;
            return null;
        }

        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        token = linked.Token;
        return linked;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, Finalized) != Finalized)
        {
            await _lifetime.CancelAsync().ConfigureAwait(false);
        }

        await _loggerProvider.DisposeAsync().ConfigureAwait(false);
        _loggerFactory.Dispose();
        _lifetime.Dispose();
    }
}
