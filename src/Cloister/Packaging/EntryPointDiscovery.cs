using System.Reflection;
using System.Runtime.Versioning;

namespace Cloister;

/// <summary>Finds (or checks) the entry assembly and <see cref="TrustedApplication"/> type of a publish folder.</summary>
internal static class EntryPointDiscovery
{
    public sealed record EntryPoint(string AssemblyFile, string TypeName, string? TargetFramework);

    public static EntryPoint Discover(string directory, string? assemblyFile, string? typeName)
    {
        assemblyFile ??= FindEntryAssembly(directory);
        var assemblyPath = Path.Combine(directory, assemblyFile);
        if (!File.Exists(assemblyPath))
        {
            throw new EnclaveException(EnclaveStatusCode.NotFound, $"Entry assembly '{assemblyFile}' is not in '{directory}'.");
        }

        // Inspect in a collectible context of its own, exactly as the loader will, then let it go.
        var context = new EnclaveLoadContext("pack-inspection", assemblyPath);
        try
        {
            Assembly assembly;
            try
            {
                assembly = context.LoadFromAssemblyPath(Path.GetFullPath(assemblyPath));
            }
            catch (BadImageFormatException ex)
            {
                throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"'{assemblyFile}' is not a .NET assembly: {ex.Message}", ex);
            }

            var framework = assembly.GetCustomAttribute<TargetFrameworkAttribute>()?.FrameworkName;
            if (typeName is not null)
            {
                EnclaveTypes.Resolve(assembly, typeName, assemblyFile);
                return new EntryPoint(assemblyFile.Replace(Path.DirectorySeparatorChar, '/'), typeName, framework);
            }

            var candidates = EnclaveTypes.LoadableTypes(assembly)
                .Where(t => t.IsPublic && !t.IsAbstract && t.IsSubclassOf(typeof(TrustedApplication)))
                .Select(t => t.FullName!)
                .ToList();
            return candidates.Count switch
            {
                1 => new EntryPoint(assemblyFile.Replace(Path.DirectorySeparatorChar, '/'), candidates[0], framework),
                0 => throw new EnclaveException(EnclaveStatusCode.NotFound,
                    $"'{assemblyFile}' has no public, non-abstract subclass of Cloister.TrustedApplication; add one, or name it with --entry-type."),
                _ => throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                    $"'{assemblyFile}' has several TrustedApplication subclasses ({string.Join(", ", candidates)}); choose one with --entry-type."),
            };
        }
        finally
        {
            context.Unload();
        }
    }

    private static string FindEntryAssembly(string directory)
    {
        var candidates = Directory.GetFiles(directory, "*.deps.json")
            .Select(d => Path.GetFileName(d)[..^".deps.json".Length] + ".dll")
            .Where(a => File.Exists(Path.Combine(directory, a)))
            .ToList();
        return candidates.Count == 1
            ? candidates[0]
            : throw new EnclaveException(EnclaveStatusCode.InvalidArgument, candidates.Count == 0
                ? $"'{directory}' has no *.deps.json naming the entry assembly; pack the output of `dotnet publish`, or name the assembly with --entry-assembly."
                : $"'{directory}' has several *.deps.json ({string.Join(", ", candidates)}); name the entry assembly with --entry-assembly.");
    }
}
