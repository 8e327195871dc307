using System.Reflection;

namespace Cloister;

/// <summary>Finds and checks an enclave's entry type.</summary>
internal static class EnclaveTypes
{
    public static Type Resolve(Assembly assembly, string typeName, string assemblyFile)
    {
        Type? type;
        try
        {
            type = assembly.GetType(typeName, throwOnError: false);
        }
        catch (Exception ex) when (ex is TypeLoadException or FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"Entry type '{typeName}' in '{assemblyFile}' cannot be loaded: {ex.Message}", ex);
        }

        if (type is null)
        {
            throw new EnclaveException(EnclaveStatusCode.NotFound, $"Entry type '{typeName}' was not found in '{assemblyFile}'; check the manifest's entryType (cloister pack --entry-type).");
        }

        if (!type.IsSubclassOf(typeof(TrustedApplication)))
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                $"Entry type '{typeName}' does not derive from Cloister.TrustedApplication; an enclave's entry type must. (If it does, the enclave was built against another Cloister assembly than the host's.)");
        }

        if (type.IsAbstract || type.GetConstructor(Type.EmptyTypes) is null)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"Entry type '{typeName}' must be a non-abstract class with a public parameterless constructor.");
        }

        return type;
    }

    public static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            return ex.Types.Where(t => t is not null)!;
        }
    }
}
