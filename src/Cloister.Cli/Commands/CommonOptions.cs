using System.CommandLine;

namespace Cloister.Cli.Commands;

/// <summary>Options more than one command has.</summary>
internal static class CommonOptions
{
    /// <summary><c>--verbose</c>: show informational and debug logs, on every command.</summary>
    public static Option<bool> Verbose { get; } = new("--verbose", "-v")
    {
        Description = "Show Cloister's and the enclave's logs down to debug level (on standard error).",
        Recursive = true,
    };

    /// <summary>
    /// <c>--backend</c>: where the enclave runs. Only <c>sim</c> is wired into the tool today; any other value is a
    /// usage error that says so, rather than a failure deep inside the load.
    /// </summary>
    public static Option<string> CreateBackendOption()
    {
        var option = new Option<string>("--backend")
        {
            Description = $"The backend that runs the enclave. Available: '{SimBackend.BackendName}' (in this process, NO isolation).",
            DefaultValueFactory = _ => SimBackend.BackendName,
            HelpName = "name",
        };
        option.Validators.Add(result =>
        {
            var backend = result.GetValueOrDefault<string>();
            if (backend != SimBackend.BackendName)
            {
                result.AddError($"Backend '{backend}' is not available in this version of cloister; only '{SimBackend.BackendName}' is (the tool does not run the remote backend yet). Use --backend {SimBackend.BackendName}.");
            }
        });
        return option;
    }
}
