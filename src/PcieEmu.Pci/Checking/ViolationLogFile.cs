using System.Text;

namespace PcieEmu.Pci.Checking;

/// <summary>
/// A JSON-lines file of every reported violation and warning (one object per line, flushed per line so a CI job
/// that kills the run still has what was seen). One file may serve several checkers (several cards); lines never
/// interleave.
/// </summary>
public sealed class ViolationLogFile : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly List<DriverChecker> _attached = [];
    private readonly Lock _lock = new();
    private bool _disposed;

    /// <summary>Creates or truncates <paramref name="path"/>; throws IOException or UnauthorizedAccessException.</summary>
    public ViolationLogFile(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        _writer = new StreamWriter(new FileStream(Path, FileMode.Create, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
    }

    /// <summary>The file's absolute path.</summary>
    public string Path { get; }

    /// <summary>Lines written so far.</summary>
    public long Lines { get; private set; }

    /// <summary>Writes every report <paramref name="checker"/> makes from now on.</summary>
    public void Attach(DriverChecker checker)
    {
        ArgumentNullException.ThrowIfNull(checker);
        lock (_lock)
        {
            checker.Recorded += Write;
            _attached.Add(checker);
        }
    }

    private void Write(RuleViolation violation)
    {
        string line = violation.ToJson();
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                _writer.WriteLine(line);
                _writer.Flush();
                Lines++;
            }
            catch (IOException)
            {
                // A full disk must not take the device down with it; the checker still keeps and counts the report.
            }
        }
    }

    /// <summary>Stops writing (detaches from every checker) and closes the file.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var c in _attached)
            {
                c.Recorded -= Write;
            }

            _writer.Dispose();
        }
    }
}
