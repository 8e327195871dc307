using System.CommandLine;
using Cloister.Remote;

namespace Cloister.Cli.Commands;

/// <summary>Options more than one command has.</summary>
internal static class CommonOptions
{
    private static readonly string[] Backends = [SimBackend.BackendName, RemoteBackend.BackendName];

    /// <summary><c>--verbose</c>: show informational and debug logs, on every command.</summary>
    public static Option<bool> Verbose { get; } = new("--verbose", "-v")
    {
        Description = "Show Cloister's and the enclave's logs down to debug level (on standard error).",
        Recursive = true,
    };

    /// <summary><c>--backend</c>: where the enclave runs, <c>sim</c> or <c>remote</c>.</summary>
    public static Option<string> CreateBackendOption()
    {
        var option = new Option<string>("--backend")
        {
            Description = $"The backend that runs the enclave: '{SimBackend.BackendName}' (in this process, NO isolation) or '{RemoteBackend.BackendName}' (its own proxy process, over gRPC).",
            DefaultValueFactory = _ => SimBackend.BackendName,
            HelpName = "name",
        };
        option.AcceptOnlyFromAmong(Backends);
        return option;
    }

    /// <summary><c>--provision-server</c>: run the proxy through a provision server instead of on this machine.</summary>
    public static Option<string?> CreateProvisionServerOption() => new("--provision-server")
    {
        Description = "With --backend remote: the provision server (host:port) that runs the enclave, usually on another machine.",
        HelpName = "address",
    };

    /// <summary><c>--provision-token-file</c>: the provision server's bearer token.</summary>
    public static Option<string?> CreateProvisionTokenOption() => new("--provision-token-file")
    {
        Description = "A file with the provision server's bearer token.",
        HelpName = "path",
    };

    /// <summary><c>--remote-proxy</c>: the proxy program the remote backend starts.</summary>
    public static Option<FileInfo?> CreateRemoteProxyOption() => new("--remote-proxy")
    {
        Description = "With --backend remote: the proxy program to start (the cloister tool, or Cloister.Remote.dll). Default: the precompiled proxy installed with this tool (cloister-proxy/), else this tool.",
        HelpName = "path",
    };
}
