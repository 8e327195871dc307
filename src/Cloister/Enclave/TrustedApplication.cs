using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Cloister;

/// <summary>
/// The trusted part of an enclave application. An enclave package holds exactly one subclass
/// (named in its manifest) with a public parameterless constructor.
/// </summary>
/// <remarks>
/// <para>Lifecycle, enforced by Cloister whatever the backend:</para>
/// <list type="bullet">
/// <item><see cref="InitializeAsync"/> runs once, when the host loads the enclave. If it throws, the enclave
/// is torn down without <see cref="FinalizeAsync"/>, its name is freed and the host's load fails with the error.</item>
/// <item><see cref="RunAsync"/> runs for each <c>EnclaveClient.EnterAndRunAsync</c>, concurrently, and only
/// while the enclave is running; otherwise the caller gets <see cref="EnclaveStatusCode.FailedPrecondition"/>
/// "Enclave not in state RUNNING".</item>
/// <item><see cref="FinalizeAsync"/> runs once, when the host destroys the enclave. Entry calls still in
/// flight afterwards see their cancellation token cancelled.</item>
/// </list>
/// <para>The enclave has no I/O of its own: it reaches the host through <see cref="Host"/>.</para>
/// </remarks>
public abstract class TrustedApplication
{
    private EnclaveContext? _context;

    /// <summary>The enclave's context: its name, host calls and logging. Available from <see cref="InitializeAsync"/> on.</summary>
    /// <exception cref="InvalidOperationException">Used before the enclave was loaded (e.g. in the constructor).</exception>
    public EnclaveContext Context => _context ?? throw new InvalidOperationException(
        "The enclave context is not available yet: use it from InitializeAsync on, not from the constructor.");

    /// <summary>Calls from the enclave out to its host (console, logging, files, clock and custom handlers).</summary>
    public IHostCalls Host => Context.Host;

    /// <summary>A logger factory whose loggers forward to the host's <c>ILogger</c>.</summary>
    public ILoggerFactory LoggerFactory => Context.LoggerFactory;

    /// <summary>
    /// Protobuf extensions this enclave reads from its <see cref="EnclaveConfig"/>, <see cref="EnclaveInput"/> and
    /// <see cref="EnclaveFinal"/>. Messages are parsed with this registry, so <c>GetExtension</c> finds them directly.
    /// Without it, <see cref="ProtobufExtensions.GetExtensionValue{TTarget, TValue}"/> still finds them, at the cost of a re-parse.
    /// </summary>
    protected internal virtual ExtensionRegistry? MessageExtensions => null;

    /// <summary>Called once when the enclave is loaded.</summary>
    /// <param name="config">The configuration from the host's <see cref="EnclaveLoadConfig.Config"/>.</param>
    /// <param name="cancellationToken">Cancelled when the host gives up on the load.</param>
    public virtual ValueTask InitializeAsync(EnclaveConfig config, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Called for each entry call the host makes with <c>EnterAndRunAsync</c>; may run concurrently.</summary>
    /// <param name="input">The host's input.</param>
    /// <param name="cancellationToken">Cancelled when the host cancels the call or the enclave is finalized.</param>
    public abstract ValueTask<EnclaveOutput> RunAsync(EnclaveInput input, CancellationToken cancellationToken);

    /// <summary>Called once when the enclave is destroyed.</summary>
    /// <param name="final">The host's final message.</param>
    /// <param name="cancellationToken">Cancelled when the host gives up on the destroy.</param>
    public virtual ValueTask FinalizeAsync(EnclaveFinal final, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// Registers a custom entry point the host calls with <c>EnclaveClient.InvokeAsync(selector, payload)</c>.
    /// Register from <see cref="InitializeAsync"/>. Selectors starting with <c>cloister.</c> are reserved.
    /// </summary>
    /// <exception cref="ArgumentException">The selector is empty, reserved or already registered.</exception>
    protected void RegisterEntryPoint(string selector, EntryPointHandler handler) => Context.RegisterEntryPoint(selector, handler);

    internal void Attach(EnclaveContext context)
    {
        if (Interlocked.CompareExchange(ref _context, context, null) is not null)
        {
            throw new InvalidOperationException("This TrustedApplication instance is already attached to an enclave.");
        }
    }
}
