namespace Cloister;

/// <summary>
/// The one exception type of Cloister: an enclave operation failed with a <see cref="EnclaveStatusCode"/>
/// and a message that says what happened and what to do. Exceptions thrown inside an enclave reach the
/// host as an <see cref="EnclaveException"/> with the same code and message.
/// </summary>
public sealed class EnclaveException : Exception
{
    /// <summary>Creates an exception with a status code and a message.</summary>
    public EnclaveException(EnclaveStatusCode statusCode, string message)
        : base(message)
    {
        StatusCode = statusCode;
    }

    /// <summary>Creates an exception with a status code, a message and the exception that caused it.</summary>
    public EnclaveException(EnclaveStatusCode statusCode, string message, Exception? innerException)
        : base(message, innerException)
    {
        StatusCode = statusCode;
    }

    /// <summary>The status code of the failure.</summary>
    public EnclaveStatusCode StatusCode { get; }

    /// <summary>
    /// When the failure happened inside an enclave loaded in debug mode, the enclave-side stack trace;
    /// otherwise <see langword="null"/>.
    /// </summary>
    public string? EnclaveStackTrace { get; init; }

    /// <inheritdoc />
    public override string ToString()
    {
        var text = $"{nameof(EnclaveException)} ({StatusCode}): {base.ToString()}";
        return EnclaveStackTrace is null ? text : $"{text}{Environment.NewLine}--- enclave stack trace ---{Environment.NewLine}{EnclaveStackTrace}";
    }
}
