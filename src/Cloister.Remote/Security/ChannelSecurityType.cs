namespace Cloister.Remote;

/// <summary>How a Cloister channel (host ↔ proxy, proxy ↔ host, host ↔ provision server) is protected.</summary>
public enum ChannelSecurityType
{
    /// <summary>Plaintext HTTP/2. Anyone on the path reads and changes the traffic; bind loopback or Unix sockets only.
    /// Command-line spellings: <c>insecure</c>, <c>local</c>.</summary>
    Insecure = 0,

    /// <summary>TLS: the listening side proves its identity with a certificate the caller trusts through a CA.
    /// Command-line spellings: <c>tls</c>, <c>ssl</c>.</summary>
    Tls = 1,

    /// <summary>Mutual TLS: both sides present certificates, each checked against the CA (and optionally pinned subjects).
    /// Command-line spelling: <c>mtls</c>.</summary>
    MutualTls = 2,
}
