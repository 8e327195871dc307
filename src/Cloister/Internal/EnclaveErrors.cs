namespace Cloister;

/// <summary>Turns exceptions thrown by enclave code into the <see cref="EnclaveException"/> the host receives.</summary>
internal static class EnclaveErrors
{
    /// <summary>
    /// An exception from enclave code becomes a status: cancellation keeps its meaning, anything else is
    /// <see cref="EnclaveStatusCode.Unknown"/> with the exception's type and message. The enclave's stack only
    /// travels in debug mode, so enclave internals are not shown to an untrusted host by default.
    /// </summary>
    public static EnclaveException FromEnclave(Exception exception, bool debug, CancellationToken token)
    {
        if (exception is EnclaveException enclaveException)
        {
            return debug && enclaveException.EnclaveStackTrace is null
                ? new EnclaveException(enclaveException.StatusCode, enclaveException.Message) { EnclaveStackTrace = enclaveException.StackTrace }
                : enclaveException;
        }

        var code = exception is OperationCanceledException && token.IsCancellationRequested
            ? EnclaveStatusCode.Cancelled
            : EnclaveStatusCode.Unknown;
        var message = code == EnclaveStatusCode.Cancelled
            ? "The enclave call was cancelled."
            : $"The enclave threw {exception.GetType().FullName}: {exception.Message}";
        return new EnclaveException(code, message) { EnclaveStackTrace = debug ? exception.ToString() : null };
    }
}
