using Microsoft.Extensions.Logging;

namespace Cloister.Cli.IO;

/// <summary>A folder of its own under the system's temporary folder, deleted with everything in it on dispose.</summary>
internal sealed partial class TemporaryFolder : IDisposable
{
    private readonly ILogger _logger;

    private TemporaryFolder(string path, ILogger logger)
    {
        Path = path;
        _logger = logger;
    }

    /// <summary>The folder's full path.</summary>
    public string Path { get; }

    /// <summary>Creates an empty folder named after <paramref name="purpose"/>.</summary>
    public static TemporaryFolder Create(string purpose, ILogger logger)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cloister", $"{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return new TemporaryFolder(path, logger);
    }

    /// <summary>Deletes the folder; a failure is logged, not thrown, so it never hides the command's own result.</summary>
    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogDeleteFailed(_logger, Path, ex.Message);
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "Could not delete the temporary folder '{Path}': {Reason}. Delete it by hand.")]
    private static partial void LogDeleteFailed(ILogger logger, string path, string reason);
}
