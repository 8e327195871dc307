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
    private readonly AssemblyDependencyResolver? _resolver;
    private readonly string _directory;

    public EnclaveLoadContext(string name, string entryAssemblyPath)
        : base($"cloister:{name}", isCollectible: true)
    {
        _directory = Path.GetDirectoryName(Path.GetFullPath(entryAssemblyPath))!;
        try
        {
            _resolver = new AssemblyDependencyResolver(Path.GetFullPath(entryAssemblyPath));
        }
        catch (InvalidOperationException)
        {
            _resolver = null; // No usable .deps.json: probe the package folder by file name.
        }
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null || IsHostAssembly(assemblyName.Name))
        {
            return null;
        }

        var path = _resolver?.ResolveAssemblyToPath(assemblyName);
        if (path is null)
        {
            var probe = Path.Combine(_directory, assemblyName.Name + ".dll");
            path = File.Exists(probe) ? probe : null;
        }

        return path is null ? null : LoadFromAssemblyPath(path);
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        var path = _resolver?.ResolveUnmanagedDllToPath(unmanagedDllName);
        return path is null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
    }

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
