using System.Runtime.CompilerServices;
using Google.Protobuf;

namespace Cloister;

/// <summary>
/// The host's handle on one loaded enclave: entry calls go in through it. Obtained from
/// <see cref="EnclaveManager.LoadEnclaveAsync"/> or <see cref="EnclaveManager.GetClient"/>; thread-safe.
/// </summary>
public sealed class EnclaveClient
{
    private readonly MessageParser<EnclaveOutput> _outputParser;
    private EnclaveTransport? _transport;
    private volatile bool _destroyed;

    internal EnclaveClient(string name, string backend, ExtensionRegistry? extensions)
    {
        Name = name;
        Backend = backend;
        _outputParser = extensions is null ? EnclaveOutput.Parser : EnclaveOutput.Parser.WithExtensionRegistry(extensions);
        Telemetry = CallTelemetry.For(name, backend, measurement: string.Empty, CallSide.Host);
    }

    /// <summary>The enclave's name in its manager.</summary>
    public string Name { get; }

    /// <summary>The backend the enclave runs on, e.g. <c>sim</c>.</summary>
    public string Backend { get; }

    /// <summary>The SHA-256 measurement (lowercase hex) of the package the enclave was loaded from.</summary>
    public string Measurement => _transport?.Measurement ?? string.Empty;

    /// <summary>True once the enclave was destroyed; every call then fails.</summary>
    public bool IsDestroyed => _destroyed;

    internal Task? DestroyTask { get; set; }

    internal EnclaveTransport? Transport => _transport;

    /// <summary>This enclave's calls as the host measures them; its measurement tag is set once the backend opened it.</summary>
    internal CallTelemetry Telemetry { get; private set; }

    /// <summary>Calls the enclave's <see cref="TrustedApplication.RunAsync"/> with <paramref name="input"/>.</summary>
    /// <exception cref="EnclaveException">The enclave is not running (<see cref="EnclaveStatusCode.FailedPrecondition"/>),
    /// or the enclave failed; the code and message are the enclave's.</exception>
    public ValueTask<EnclaveOutput> EnterAndRunAsync(EnclaveInput input, CancellationToken cancellationToken = default) =>
        EnterAndRunAsync(input, new EnclaveCallOptions(cancellationToken: cancellationToken));

    /// <summary>Calls the enclave's <see cref="TrustedApplication.RunAsync"/> with <paramref name="input"/>, a deadline and a token.</summary>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.DeadlineExceeded"/> past the deadline; otherwise as
    /// <see cref="EnterAndRunAsync(EnclaveInput, CancellationToken)"/>.</exception>
    public async ValueTask<EnclaveOutput> EnterAndRunAsync(EnclaveInput input, EnclaveCallOptions options)
    {
        ArgumentNullException.ThrowIfNull(input);
        var reply = await InvokeTransportAsync(GetTransport(), Selectors.Run, input.ToByteArray(), options.Deadline, options.CancellationToken).ConfigureAwait(false);
        try
        {
            return _outputParser.ParseFrom(reply.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new EnclaveException(EnclaveStatusCode.DataLoss, $"Enclave '{Name}' returned an EnclaveOutput that is not a valid protobuf message: {ex.Message}", ex);
        }
    }

    /// <summary>Calls a custom entry point the enclave registered with <c>RegisterEntryPoint</c>.</summary>
    /// <param name="selector">The entry point's selector.</param>
    /// <param name="payload">The bytes to send; not copied by the sim backend, so do not change them until the call completes.</param>
    /// <param name="cancellationToken">Cancels the call; the enclave's handler sees its token cancelled.</param>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.Unimplemented"/> for an unknown selector;
    /// otherwise the enclave's error.</exception>
    public ValueTask<ReadOnlyMemory<byte>> InvokeAsync(string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        InvokeAsync(selector, payload, new EnclaveCallOptions(cancellationToken: cancellationToken));

    /// <summary>Calls a custom entry point with a deadline and a token.</summary>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.DeadlineExceeded"/> past the deadline; otherwise as
    /// <see cref="InvokeAsync(string, ReadOnlyMemory{byte}, CancellationToken)"/>.</exception>
    public ValueTask<ReadOnlyMemory<byte>> InvokeAsync(string selector, ReadOnlyMemory<byte> payload, EnclaveCallOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(selector);
        if (Selectors.IsReserved(selector))
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                $"Selector '{selector}' is reserved for Cloister's lifecycle calls; use EnterAndRunAsync, or register a selector of your own.");
        }

        // The gate inline, not through InvokeTransportAsync: this is the hot path of every custom entry call.
        var transport = GetTransport();
        return CloisterTelemetry.IsCallObserved && !transport.ObservesCalls
            ? InvokeObservedAsync(transport, selector, payload, options.Deadline, options.CancellationToken)
            : transport.InvokeAsync(selector, payload, options.Deadline, options.CancellationToken);
    }

    /// <summary>
    /// Every entry call of this enclave goes through here, lifecycle calls included, so every backend is measured the
    /// same way. Unobserved (nobody listens to the meter or the activity source), it is the transport call and nothing else.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ValueTask<ReadOnlyMemory<byte>> InvokeTransportAsync(EnclaveTransport transport, string selector, ReadOnlyMemory<byte> payload, DateTime? deadline, CancellationToken cancellationToken) =>
        CloisterTelemetry.IsCallObserved && !transport.ObservesCalls
            ? InvokeObservedAsync(transport, selector, payload, deadline, cancellationToken)
            : transport.InvokeAsync(selector, payload, deadline, cancellationToken);

    private async ValueTask<ReadOnlyMemory<byte>> InvokeObservedAsync(EnclaveTransport transport, string selector, ReadOnlyMemory<byte> payload, DateTime? deadline, CancellationToken cancellationToken)
    {
        // Async on purpose: the call's span becomes Activity.Current for the transport (which sends it on as the
        // traceparent) and for host calls made under it, and stops being current when this method returns.
        var observation = Telemetry.Start(CallDirection.Entry, selector, payload.Length);
        ReadOnlyMemory<byte> reply;
        try
        {
            reply = await transport.InvokeAsync(selector, payload, deadline, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            observation.Fail(ex);
            throw;
        }

        observation.Complete(reply.Length);
        return reply;
    }

    internal void SetMeasurement(string measurement) => Telemetry = CallTelemetry.For(Name, Backend, measurement, CallSide.Host);

    internal void Attach(EnclaveTransport transport) => _transport = transport;

    internal void MarkDestroyed() => _destroyed = true;

    private EnclaveTransport GetTransport()
    {
        if (_destroyed)
        {
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition, $"Enclave '{Name}' has been destroyed; load it again to call it.");
        }

        return _transport ?? throw new EnclaveException(EnclaveStatusCode.FailedPrecondition, "Enclave not in state RUNNING");
    }

    /// <inheritdoc />
    public override string ToString() => $"Enclave '{Name}' ({Backend})";
}
