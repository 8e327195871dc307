using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Cloister;

/// <summary>
/// An enclave package verified, extracted and instantiated in a collectible load context of this process, with its
/// runtime. The sim backend uses it in the host process; the remote backend's proxy uses it in its own process.
/// </summary>
internal sealed partial class LoadedEnclave : IAsyncDisposable
{
    private readonly string _directory;
    private readonly ILogger _logger;

    private LoadedEnclave(EnclaveRuntime runtime, EnclaveLoadContext context, string directory, PackageContents contents, ILogger logger)
    {
        Runtime = runtime;
        LoadContext = context;
        _directory = directory;
        Contents = contents;
        _logger = logger;
    }

    public EnclaveRuntime Runtime { get; }

    public EnclaveLoadContext LoadContext { get; }

    public PackageContents Contents { get; }

    public string Measurement => Contents.Measurement;

    /// <summary>Verifies and extracts the package, checks its measurement, then creates the application (its first code to run).</summary>
    public static async Task<LoadedEnclave> LoadAsync(string name, string packagePath, string? expectedMeasurement, bool debug,
        PackageLimits limits, HostCallTransport hostCalls, ILogger logger, CancellationToken cancellationToken)
    {
        var expected = NormalizeMeasurement(expectedMeasurement);
        var directory = Path.Combine(Path.GetTempPath(), "cloister", "enclaves", $"{SafeName(name)}-{Guid.NewGuid():N}");
        EnclaveLoadContext? context = null;
        try
        {
            var contents = await PackageReader.ReadAsync(packagePath, limits, directory, cancellationToken).ConfigureAwait(false);
            if (expected is not null && expected != contents.Measurement)
            {
                throw new EnclaveException(EnclaveStatusCode.PermissionDenied,
                    $"Enclave package '{packagePath}' has measurement {contents.Measurement}, but {expected} was expected; refusing to load '{name}'. Check that the package is the one you built (`cloister measure`).");
            }

            var entryPath = Path.Combine(directory, contents.Manifest.EntryAssembly);
            context = new EnclaveLoadContext(name, entryPath);
            Assembly assembly;
            try
            {
                assembly = context.LoadFromAssemblyPath(entryPath);
            }
            catch (BadImageFormatException ex)
            {
                throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"Entry assembly '{contents.Manifest.EntryAssembly}' of package '{packagePath}' is not a .NET assembly: {ex.Message}", ex);
            }

            var type = EnclaveTypes.Resolve(assembly, contents.Manifest.EntryType, contents.Manifest.EntryAssembly);
            TrustedApplication application;
            try
            {
                application = (TrustedApplication)Activator.CreateInstance(type)!;
            }
            catch (TargetInvocationException ex) when (ex.InnerException is not null)
            {
                throw EnclaveErrors.FromEnclave(ex.InnerException, debug, cancellationToken);
            }

            var runtime = new EnclaveRuntime(application, name, debug, new HostCallSender(hostCalls));
            return new LoadedEnclave(runtime, context, directory, contents, logger);
        }
        catch
        {
            context?.Unload();
            DeleteDirectory(directory, logger);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Runtime.DisposeAsync().ConfigureAwait(false);
        LoadContext.Unload();
        DeleteDirectory(_directory, _logger);
    }

    private static string? NormalizeMeasurement(string? measurement)
    {
        if (string.IsNullOrWhiteSpace(measurement))
        {
            return null;
        }

        var normalized = measurement.Trim().ToLowerInvariant();
        if (normalized.Length != 64 || !normalized.All(char.IsAsciiHexDigit))
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                $"Expected measurement '{measurement}' is not a SHA-256 in hex (64 hex digits); get it with `cloister measure <package>`.");
        }

        return normalized;
    }

    private static string SafeName(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').Take(40).ToArray();
        return new string(chars);
    }

    private static void DeleteDirectory(string directory, ILogger logger)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogCleanupFailed(logger, directory, ex.Message);
        }
    }

    [LoggerMessage(20, LogLevel.Warning, "Could not delete the enclave folder '{Directory}': {Reason}")]
    private static partial void LogCleanupFailed(ILogger logger, string directory, string reason);
}
