using System.Runtime.InteropServices;

namespace PcieEmu.Interop;

public static partial class Libc
{
    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);
}
