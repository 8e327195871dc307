using System.Net;
using System.Net.Sockets;

namespace Cloister.Cli.Tests;

/// <summary>
/// <c>cloister status</c> against addresses where no proxy answers. Its figures from a live proxy are tested in
/// Cloister.Tests (ObservabilityTests), which runs real proxies with a metrics port.
/// </summary>
public sealed class StatusTests
{
    [Fact]
    public async Task Status_WhenNothingListens_FailsWithAnErrorThatNamesTheAddressAndTheFlag()
    {
        var port = FreeLoopbackPort();

        var status = await CloisterProcess.RunAsync("status", "--address", $"127.0.0.1:{port}", "--timeout", "00:00:05");

        Assert.True(status.ExitCode == 1, status.ToString());
        Assert.Contains($"error: No Cloister health service answers at http://127.0.0.1:{port}/", status.StandardError, StringComparison.Ordinal);
        Assert.Contains("--metrics-port", status.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_OfAUnixSocket_AsksForTheMetricsAddress()
    {
        var status = await CloisterProcess.RunAsync("status", "--address", "unix:/tmp/cloister-proxy.sock");

        Assert.True(status.ExitCode == 1, status.ToString());
        Assert.Contains("is a Unix socket; give the metrics address", status.StandardError, StringComparison.Ordinal);
    }

    /// <summary>A loopback port nothing listens on (bound, then released).</summary>
    private static int FreeLoopbackPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
