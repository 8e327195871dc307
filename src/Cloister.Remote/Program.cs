using System.CommandLine;

namespace Cloister.Remote;

/// <summary>Lets <c>dotnet Cloister.Remote.dll proxy …</c> run a proxy without the cloister tool.</summary>
internal static class Program
{
    public static Task<int> Main(string[] args) =>
        new RootCommand("Cloister remote proxy and provision server") { ProxyCommand.Create(), ProvisionServerCommand.Create() }.Parse(args, ProxyCommand.ParserConfiguration).InvokeAsync();
}
