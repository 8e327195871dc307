using Cloister.Remote.Protocol;
using Grpc.Core;

namespace Cloister.Remote;

/// <summary>
/// One end of a session's outgoing frames. Many calls write on the same stream and gRPC allows one write at a time, so
/// writes take turns; a stream that is gone is not an error here, only an answer each end handles its own way (the
/// calling end fails the call it was writing, the serving end drops a reply nobody waits for).
/// </summary>
internal sealed class SessionFrameWriter(IAsyncStreamWriter<SessionFrame> stream)
{
    private readonly SemaphoreSlim _turn = new(1, 1);

    /// <summary>Writes <paramref name="frame"/> after any write in progress.</summary>
    /// <returns>Null once written; the exception that says why not when the stream is gone.</returns>
    public async Task<Exception?> TryWriteAsync(SessionFrame frame)
    {
        await _turn.WaitAsync().ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(frame).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            return ex;
        }
        finally
        {
            _turn.Release();
        }
    }
}
