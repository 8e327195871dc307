using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cloister;

/// <summary>Settings of an <see cref="EnclaveManager"/>. The defaults are safe for development.</summary>
public sealed class EnclaveManagerOptions
{
    /// <summary>Where Cloister and the enclaves' forwarded logs go. Default: nowhere.</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>
    /// The backends enclaves can be loaded on. Holds <see cref="SimBackend"/> by default; add others
    /// (e.g. the remote backend) here.
    /// </summary>
    public IList<EnclaveBackend> Backends { get; } = [new SimBackend()];

    /// <summary>Size limits every package is checked against before any of its code runs.</summary>
    public PackageLimits PackageLimits { get; set; } = new();

    /// <summary>Where the built-in console host call writes standard output. Default: <see cref="Console.Out"/>.</summary>
    public TextWriter? ConsoleOut { get; set; }

    /// <summary>Where the built-in console host call writes standard error. Default: <see cref="Console.Error"/>.</summary>
    public TextWriter? ConsoleError { get; set; }

    /// <summary>
    /// When set, the built-in file host calls resolve paths inside this folder and refuse any path outside it
    /// (<see cref="EnclaveStatusCode.PermissionDenied"/>). Default: <see langword="null"/>, any path the host process may use,
    /// relative paths against the current directory.
    /// </summary>
    public string? HostFileRoot { get; set; }

    /// <summary>Extensions the host reads from <see cref="EnclaveOutput"/>; outputs are parsed with this registry.</summary>
    public ExtensionRegistry? ExtensionRegistry { get; set; }

    internal void Validate()
    {
        if (LoggerFactory is null)
        {
            throw new ArgumentException($"{nameof(EnclaveManagerOptions)}.{nameof(LoggerFactory)} must not be null; use NullLoggerFactory.Instance for no logging.");
        }

        ArgumentNullException.ThrowIfNull(PackageLimits, $"{nameof(EnclaveManagerOptions)}.{nameof(PackageLimits)}");
        PackageLimits.Validate();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var backend in Backends)
        {
            if (backend is null || string.IsNullOrEmpty(backend.Name))
            {
                throw new ArgumentException($"{nameof(EnclaveManagerOptions)}.{nameof(Backends)} holds a null backend or one without a name.");
            }

            if (!names.Add(backend.Name))
            {
                throw new ArgumentException($"{nameof(EnclaveManagerOptions)}.{nameof(Backends)} holds two backends named '{backend.Name}'.");
            }
        }
    }
}
