namespace Cloister;

/// <summary>
/// The status of a failed enclave operation. The values are those of gRPC's status codes,
/// so a code converts to and from <c>Grpc.Core.StatusCode</c> with a cast.
/// </summary>
public enum EnclaveStatusCode
{
    /// <summary>Not an error.</summary>
    OK = 0,
    /// <summary>The operation was cancelled, typically by the caller.</summary>
    Cancelled = 1,
    /// <summary>An error with no better code; an exception the enclave threw that was not an <see cref="EnclaveException"/>.</summary>
    Unknown = 2,
    /// <summary>The caller gave an argument that is invalid whatever the state (a malformed package, a bad selector).</summary>
    InvalidArgument = 3,
    /// <summary>A deadline expired before the operation completed.</summary>
    DeadlineExceeded = 4,
    /// <summary>Something asked for was not found (a package file, an entry type).</summary>
    NotFound = 5,
    /// <summary>Something to be created already exists (an enclave name).</summary>
    AlreadyExists = 6,
    /// <summary>The caller may not do this (a package whose measurement is not the expected one).</summary>
    PermissionDenied = 7,
    /// <summary>A resource ran out (a quota, a size limit).</summary>
    ResourceExhausted = 8,
    /// <summary>The system is not in the state the operation needs (an enclave not RUNNING).</summary>
    FailedPrecondition = 9,
    /// <summary>The operation was aborted.</summary>
    Aborted = 10,
    /// <summary>A value is outside its valid range.</summary>
    OutOfRange = 11,
    /// <summary>Nothing handles this operation (an unregistered selector).</summary>
    Unimplemented = 12,
    /// <summary>An invariant was broken; a bug in Cloister or the enclave.</summary>
    Internal = 13,
    /// <summary>The enclave cannot be reached (its proxy process died, the channel broke).</summary>
    Unavailable = 14,
    /// <summary>Data was lost or corrupted.</summary>
    DataLoss = 15,
    /// <summary>The caller is not authenticated.</summary>
    Unauthenticated = 16,
}
