using System.Reflection;
using System.Runtime.Loader;

namespace Cloister;

/// <summary>
/// The collectible load context an enclave's assemblies live in. Assemblies the host already has (the framework,
/// Cloister, Google.Protobuf, ...) come from the host so their types unify across the boundary; everything else,
/// and always the entry assembly, comes from the package. Unloading it lets the GC free the enclave's code.
/// </summary>
internal sealed class EnclaveLoadContext : AssemblyLoadContext
{
    private static readonly Lazy<HashSet<string>> HostAssemblies = new(ReadHostAssemblies);
    private readonly string[] _managedFolders;
    private readonly string[] _nativeFolders;

    // The package is untrusted input, so its .deps.json is not handed to AssemblyDependencyResolver: the native
    // host parser behind it aborts the whole process on some malformed files (seen with "{}"). Publish output is
    // flat, with RID-specific assets under runtimes/<rid>/, so probing those folders by name finds everything.
    public EnclaveLoadContext(string name, string entryAssemblyPath)
        : base($"cloister:{name}", isCollectible: true)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(entryAssemblyPath))!;
        var rids = RuntimeIdentifierChain();
        _managedFolders = [directory, .. rids.SelectMany(rid => LibFolders(Path.Combine(directory, "runtimes", rid, "lib")))];
        _nativeFolders = [directory, .. rids.Select(rid => Path.Combine(directory, "runtimes", rid, "native"))];
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null || IsHostAssembly(assemblyName.Name))
        {
            return null;
        }

        foreach (var folder in _managedFolders)
        {
            var path = Path.Combine(folder, assemblyName.Name + ".dll");
            if (File.Exists(path))
            {
                return LoadFromAssemblyPath(path);
            }
        }

        return null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        string[] names = [unmanagedDllName, $"lib{unmanagedDllName}.so", $"{unmanagedDllName}.so", $"lib{unmanagedDllName}.dylib", $"{unmanagedDllName}.dll"];
        foreach (var folder in _nativeFolders)
        {
            foreach (var name in names)
            {
                var path = Path.Combine(folder, name);
                if (File.Exists(path))
                {
                    return LoadUnmanagedDllFromPath(path);
                }
            }
        }

        return IntPtr.Zero;
    }

    /// <summary>This machine's RIDs, most specific first (e.g. linux-x64, linux, unix).</summary>
    private static string[] RuntimeIdentifierChain()
    {
        var arch = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        return OperatingSystem.IsWindows() ? [$"{os}-{arch}", os] : [$"{os}-{arch}", os, "unix"];
    }

    /// <summary>runtimes/&lt;rid&gt;/lib/&lt;tfm&gt; folders, newest target framework first.</summary>
    private static IEnumerable<string> LibFolders(string libRoot) =>
        Directory.Exists(libRoot) ? Directory.GetDirectories(libRoot).OrderDescending(StringComparer.Ordinal) : [];

    private static bool IsHostAssembly(string name) =>
        HostAssemblies.Value.Contains(name) || Default.Assemblies.Any(a => string.Equals(a.GetName().Name, name, StringComparison.OrdinalIgnoreCase));

    private static HashSet<string> ReadHostAssemblies()
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is string list)
        {
            foreach (var path in list.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                names.Add(Path.GetFileNameWithoutExtension(path));
            }
        }

        return names;
    }
}
