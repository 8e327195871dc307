namespace Cloister.Remote;

/// <summary>Sizes of the communicator's messages.</summary>
internal static class CommunicatorLimits
{
    /// <summary>
    /// The version of the communicator protocol this build speaks, reported at registration: 1, the first; 2 added
    /// <c>Session</c>, which both sides use for small calls; 3 carries the trace context as numbers (<see cref="WireTraceContext"/>). Both sides must speak the same version.
    /// </summary>
    public const uint ProtocolVersion = 3;

    /// <summary>Calls whose request payload is at most this size go on the caller's session; larger ones get a call of their own.</summary>
    public const int MaxSessionBytes = 64 * 1024;

    /// <summary>Payloads up to this size travel inline in one Invoke; larger ones are streamed in chunks.</summary>
    public const int MaxInlineBytes = 1024 * 1024;

    /// <summary>The size of one chunk of a streamed payload.</summary>
    public const int ChunkBytes = 1024 * 1024;

    /// <summary>The largest gRPC message either side accepts: an inline payload or a chunk, plus framing.</summary>
    public const int MaxMessageBytes = MaxInlineBytes + 64 * 1024;

    /// <summary>The metadata entry that carries the session token on every call.</summary>
    public const string SessionHeader = "cloister-session";
}
