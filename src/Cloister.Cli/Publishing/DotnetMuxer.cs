using System.Runtime.InteropServices;

namespace Cloister.Cli.Publishing;

/// <summary>Finds the <c>dotnet</c> executable that can publish a project.</summary>
internal static class DotnetMuxer
{
    private static readonly string FileName = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";

    /// <summary>
    /// The muxer running this process when there is one (<c>dotnet Cloister.Cli.dll</c>, <c>dotnet run</c>), else the
    /// one the SDK names in <c>DOTNET_HOST_PATH</c>, else the one of the runtime running this tool, else <c>dotnet</c>
    /// from the <c>PATH</c>.
    /// </summary>
    public static string Find()
    {
        if (Environment.ProcessPath is { } processPath && Path.GetFileName(processPath).Equals(FileName, StringComparison.OrdinalIgnoreCase))
        {
            return processPath;
        }

        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }

        // The runtime lives in <dotnet root>/shared/Microsoft.NETCore.App/<version>/.
        var fromRuntime = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", FileName));
        return File.Exists(fromRuntime) ? fromRuntime : FileName;
    }
}
