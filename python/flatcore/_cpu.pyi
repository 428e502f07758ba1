"""What this CPU can run (the compiled module flatcore._cpu; used by flatcore._simd)."""

architecture: str

def features() -> list[str]: ...
