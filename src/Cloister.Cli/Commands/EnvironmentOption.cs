using System.CommandLine;

namespace Cloister.Cli.Commands;

/// <summary><c>--env KEY=VALUE</c>, repeatable: entries of <see cref="EnclaveConfig.Environment"/>.</summary>
internal static class EnvironmentOption
{
    /// <summary>Creates the option; malformed or repeated keys are usage errors.</summary>
    public static Option<string[]> Create()
    {
        var option = new Option<string[]>("--env", "-e")
        {
            Description = "An entry of the enclave's EnclaveConfig.environment, as KEY=VALUE; repeat for more.",
            HelpName = "KEY=VALUE",
        };
        option.Validators.Add(result =>
        {
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in result.GetValueOrDefault<string[]>() ?? [])
            {
                if (!TryParse(entry, out var key, out _))
                {
                    result.AddError($"--env '{entry}' is not KEY=VALUE; write it as --env NAME=value.");
                }
                else if (!keys.Add(key))
                {
                    result.AddError($"--env sets '{key}' twice; give each key once.");
                }
            }
        });
        return option;
    }

    /// <summary>The entries of a validated option value, by key.</summary>
    public static Dictionary<string, string> Parse(string[]? entries)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in entries ?? [])
        {
            if (TryParse(entry, out var key, out var value))
            {
                environment[key] = value;
            }
        }

        return environment;
    }

    private static bool TryParse(string entry, out string key, out string value)
    {
        var separator = entry.IndexOf('=', StringComparison.Ordinal);
        key = separator > 0 ? entry[..separator] : string.Empty;
        value = separator > 0 ? entry[(separator + 1)..] : string.Empty;
        return separator > 0;
    }
}
