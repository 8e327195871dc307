namespace Cloister;

/// <summary>The rules for file paths inside a package: relative, '/'-separated, nothing that escapes the package.</summary>
internal static class PackagePaths
{
    /// <summary>Returns why <paramref name="path"/> is not allowed, or <see langword="null"/> when it is.</summary>
    public static string? Validate(string path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "has an empty name";
        }

        if (path.Length > 1024)
        {
            return "has a name longer than 1024 characters";
        }

        if (path.Contains('\\'))
        {
            return "uses '\\' as a separator; package paths use '/'";
        }

        if (path[0] == '/' || Path.IsPathRooted(path) || path.Contains(':'))
        {
            return "is an absolute path; package paths must be relative";
        }

        foreach (var c in path)
        {
            if (char.IsControl(c))
            {
                return "has a control character in its name";
            }
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment is "" or "." or "..")
            {
                return segment == ".." ? "escapes the package folder with '..'" : "has an empty or '.' path segment";
            }
        }

        return null;
    }
}
